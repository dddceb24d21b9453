// Bodies are bytes end to end. Random non-UTF-8 request bodies go in over HTTP, into the log, to the
// guest's request.arrayBuffer(); the guest's new Response(Uint8Array) goes out over HTTP. A real
// `lockstep run --record` is then replayed offline in far time zones and locales, and every answer
// it produces is the HTTP answer byte for byte. In a pair, after a SIGKILL of the primary, the
// survivor holds every byte the primary was given (the guest's running hash of them) and answers
// retries byte for byte.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FAR_ENVS, runCli, startRun, type RunningNode } from '../../scripts/record-fixtures.lib.js';
import { assertBuilt, ROOT, rngFrom, startPair, status, tempDir, waitUntil, type Pair } from '../replication/helpers.js';

const BYTES = join(ROOT, 'test', 'fixtures', 'guests', 'bytes.js');
let pair: Pair | undefined;
const runs: RunningNode[] = [];
afterAll(async () => {
  await pair?.kill();
  for (const run of runs) run.child.kill('SIGKILL');
});

/** Random bytes that are never valid UTF-8 (a 0xff in them), of 1..maxBytes bytes. */
function randomBody(next: () => number, maxBytes: number): Uint8Array {
  const body = new Uint8Array(1 + Math.floor(next() * maxBytes));
  for (let i = 0; i < body.length; i++) body[i] = Math.floor(next() * 256);
  body[Math.floor(next() * body.length)] = 0xff;
  return body;
}

/** What guest bytes.js answers to POST /mirror. */
function mirrored(input: Uint8Array): Buffer {
  const out = Buffer.alloc(input.length + 4);
  for (let i = 0; i < input.length; i++) out[i] = input[input.length - 1 - i]! ^ 0x5a;
  out.writeUInt32BE(input.length, input.length);
  return out;
}

function fnv(hash: number, bytes: Uint8Array): number {
  for (const byte of bytes) hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
  return hash;
}

async function mirror(base: string, body: Uint8Array, headers: Record<string, string> = {}) {
  const response = await fetch(`${base}/mirror`, { method: 'POST', body: new Uint8Array(body), headers: { 'content-type': 'application/octet-stream', ...headers }, signal: AbortSignal.timeout(5_000) });
  return { status: response.status, hash: response.headers.get('x-bytes-hash'), bytes: Buffer.from(await response.arrayBuffer()) };
}

describe('binary request and response bodies', () => {
  it('go through `lockstep run --record` byte for byte, and the offline replay gives the same bytes', { timeout: 60_000 }, async () => {
    assertBuilt();
    const dir = await tempDir('binary-run');
    const logPath = join(dir, 'bytes.log');
    const node = await startRun(BYTES, ['--dir', dir, '--record', logPath]);
    runs.push(node);
    const base = `http://127.0.0.1:${node.port}`;
    const next = rngFrom(20261122);
    const sent = new Map<string, { body: Uint8Array; answer: Buffer }>();
    let hash = 0x811c9dc5;
    for (let i = 0; i < 24; i++) {
      const body = randomBody(next, i % 6 === 0 ? 200_000 : 3000);
      const answer = await mirror(base, body, { 'x-test-id': `t${i}` });
      hash = fnv(hash, body);
      expect(answer.status).toBe(200);
      expect(answer.bytes.equals(mirrored(body)), `answer ${i} (${body.length} bytes in)`).toBe(true);
      expect(answer.hash).toBe(hash.toString(16));
      sent.set(`t${i}`, { body, answer: answer.bytes });
    }
    // The plain-object contract carries bytes too, and request.body stays the (lossy) text it always was.
    const plain = await fetch(`${base}/plain-bytes`);
    expect([...new Uint8Array(await plain.arrayBuffer())]).toEqual([0xfe, 0xff, 0xff, 0x00]);
    const legacy = await fetch(`${base}/legacy-body`, { method: 'POST', body: new Uint8Array([0x61, 0xff, 0x62]) });
    expect(await legacy.json()).toEqual({ length: 3, text: 'a\ufffdb' });
    expect((await node.stop()).code).toBe(0);

    // The log holds each body as the bytes that arrived.
    const listed = await runCli(['log', logPath, '--json']);
    expect(listed.code).toBe(0);
    const requests = listed.stdout.trim().split('\n').map((line) => JSON.parse(line)).filter((e) => e.kind === 'request');
    const seqOf = new Map<number, string>();
    for (const entry of requests) {
      const id = (entry.headers as Array<[string, string]>).find(([name]) => name === 'x-test-id')?.[1];
      if (id === undefined) continue;
      seqOf.set(entry.seq, id);
      expect(Buffer.from(entry.bodyBase64, 'base64').equals(Buffer.from(sent.get(id)!.body)), `logged body of ${id}`).toBe(true);
    }
    expect(seqOf.size).toBe(sent.size);

    for (const env of FAR_ENVS) {
      const outputsPath = join(dir, `outputs-${env.TZ!.replace('/', '-')}.jsonl`);
      const replayed = await runCli(['replay', logPath, BYTES, '--outputs', outputsPath], env);
      expect(replayed.stderr).toBe('');
      expect(replayed.code).toBe(0);
      const responds = (await readFile(outputsPath, 'utf8')).trim().split('\n').map((line) => JSON.parse(line)).filter((o) => o.type === 'respond' && seqOf.has(o.requestId));
      expect(responds.length).toBe(sent.size);
      for (const r of responds) {
        const id = seqOf.get(r.requestId)!;
        expect(Buffer.from(r.bodyBase64, 'base64').equals(sent.get(id)!.answer), `replayed answer of ${id} (TZ=${env.TZ})`).toBe(true);
      }
    }
  });

  it('survive a SIGKILL of the primary: the survivor has every byte and answers retries byte for byte', { timeout: 60_000 }, async () => {
    assertBuilt();
    const dir = await tempDir('binary-pair');
    pair = await startPair(dir, { program: BYTES, failureTimeoutMs: 1000 });
    const next = rngFrom(7);
    const given: Array<{ key: string; body: Uint8Array; answer: Buffer }> = [];
    let hash = 0x811c9dc5;
    for (let i = 0; i < 16; i++) {
      const body = randomBody(next, 20_000);
      const answer = await mirror(pair.primary.url, body, { 'idempotency-key': `bin-${i}` });
      expect(answer.status).toBe(200);
      expect(answer.bytes.equals(mirrored(body))).toBe(true);
      hash = fnv(hash, body);
      given.push({ key: `bin-${i}`, body, answer: answer.bytes });
    }

    pair.primary.proc.signal('SIGKILL');
    await waitUntil(async () => (await status(pair!.secondary.url))?.role === 'primary', 10_000, 'the secondary went live');
    for (const { key, body, answer } of given) {
      const retried = await mirror(pair.secondary.url, body, { 'idempotency-key': key });
      expect(retried.bytes.equals(answer), `retry of ${key}`).toBe(true);
    }
    // The survivor's guest was given every byte exactly: its running hash goes on from the primary's.
    const last = randomBody(next, 5000);
    const after = await mirror(pair.secondary.url, last, { 'idempotency-key': 'bin-after' });
    expect(after.bytes.equals(mirrored(last))).toBe(true);
    expect(after.hash).toBe(fnv(hash, last).toString(16));
  });
});
