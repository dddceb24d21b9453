// Bad inputs on the logging channel, at process level: against a running, protected primary, a
// client with the wrong secret, garbage bytes, an oversized frame, a second secondary and a
// secondary of another program are all refused with a clear error code, and the primary keeps
// serving (and stays protected by its real secondary).
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { decodeMessage, encodeMessage, type ChannelMessage } from '../../src/channel/messages.js';
import { NONCE_BYTES } from '../../src/channel/secret.js';
import { loadProgram, makeHeader } from '../../src/engine/program.js';
import { DEFAULT_GUEST_LIMITS } from '../../src/sandbox/guest.js';
import { assertBuilt, COUNTER, increment, ROOT, sleep, startPair, startSecondary, status, tempDir, type Pair, type StartedNode } from './helpers.js';

let dir: string;
let pair: Pair;
const extra: StartedNode[] = [];

beforeAll(async () => {
  assertBuilt();
  dir = await tempDir('refusals');
  pair = await startPair(dir, { heartbeatMs: 50, failureTimeoutMs: 1000 });
});
afterAll(async () => {
  await Promise.all([...extra.map((n) => n.proc.kill()), pair?.kill()]);
  await rm(dir, { recursive: true, force: true });
});

async function primaryStillServes(key: string): Promise<void> {
  const answer = await increment(pair.primary.url, key);
  expect(answer.status).toBe(200);
  expect((await status(pair.primary.url))?.protection).toBe('protected');
}

function wsTo(port: number): Promise<{ ws: WebSocket; hello: ChannelMessage; next: () => Promise<{ message?: ChannelMessage; closed?: { code: number; reason: string } }> }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}`);
    const inbox: Array<{ message?: ChannelMessage; closed?: { code: number; reason: string } }> = [];
    const waiters: Array<(x: (typeof inbox)[number]) => void> = [];
    const push = (x: (typeof inbox)[number]) => (waiters.length ? waiters.shift()!(x) : inbox.push(x));
    let first = true;
    ws.on('message', (data) => {
      const message = decodeMessage(new Uint8Array(data as Buffer), 'test');
      if (first) {
        first = false;
        resolve({ ws, hello: message, next: () => (inbox.length ? Promise.resolve(inbox.shift()!) : new Promise((r) => waiters.push(r))) });
      } else push({ message });
    });
    ws.on('close', (code, reason) => push({ closed: { code, reason: reason.toString() } }));
    ws.on('error', (e) => (first ? reject(e) : undefined));
  });
}

describe('the logging channel refuses bad peers; the primary keeps serving', () => {
  it('refuses a client with the wrong secret', async () => {
    const { ws, hello, next } = await wsTo(pair.primary.logPort);
    expect(hello.type).toBe('hello');
    const header = makeHeader(await loadProgram(COUNTER), DEFAULT_GUEST_LIMITS);
    ws.send(encodeMessage({ type: 'auth', clientNonce: randomBytes(NONCE_BYTES), proof: randomBytes(32), header, haveSeq: 0, replayedSeq: 0, token: 0, replica: 0, node: '' }));
    const reply = await next();
    expect(reply.message).toMatchObject({ type: 'refuse', code: 'LOCKSTEP_CHANNEL_AUTH' });
    await pair.primary.proc.waitFor(/refused a would-be secondary: Channel authentication failed.*\[LOCKSTEP_CHANNEL_AUTH\]/);
    ws.terminate();
    await primaryStillServes('after-wrong-secret');
  });

  it('refuses garbage bytes on the logging port', async () => {
    const socket = net.connect(pair.primary.logPort, '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    socket.on('error', () => undefined);
    const closed = new Promise((r) => socket.once('close', r));
    socket.write(Buffer.concat([Buffer.from('\x16\x03\x01 not http at all\r\n\r\n'), randomBytes(512)]));
    await closed;
    await pair.primary.proc.waitFor(/refused a would-be secondary: Channel protocol violation.*not an HTTP\/WebSocket handshake.*\[LOCKSTEP_CHANNEL_PROTOCOL\]/);
    await primaryStillServes('after-garbage');
  });

  it('refuses garbage inside a WebSocket (not a channel message)', async () => {
    const { ws, next } = await wsTo(pair.primary.logPort);
    ws.send(randomBytes(64));
    const reply = await next();
    expect(reply.message).toMatchObject({ type: 'refuse', code: 'LOCKSTEP_CHANNEL_PROTOCOL' });
    ws.terminate();
    await primaryStillServes('after-ws-garbage');
  });

  it('refuses an oversized frame', async () => {
    const { ws, next } = await wsTo(pair.primary.logPort);
    ws.send(Buffer.alloc(17 * 1024 * 1024 + 1)); // above the 16 MiB default frame limit
    let reply = await next();
    const seen: unknown[] = [reply];
    while (!reply.closed) seen.push((reply = await next()));
    // ws closes with 1009 (message too big), or the primary's refuse frame got there first.
    expect(seen.some((x: any) => x.closed?.code === 1009 || x.message?.code === 'LOCKSTEP_CHANNEL_FRAME_TOO_LARGE'), JSON.stringify(seen)).toBe(true);
    await pair.primary.proc.waitFor(/\[LOCKSTEP_CHANNEL_FRAME_TOO_LARGE\]/);
    await primaryStillServes('after-oversized');
  });

  it('refuses a second secondary (BUSY) while the first stays attached', async () => {
    const second = await startSecondary({ dir, primaryUrl: `ws://127.0.0.1:${pair.primary.logPort}`, heartbeatMs: 50, failureTimeoutMs: 1000, name: 'second-secondary' });
    extra.push(second);
    await second.proc.waitFor(/refused by the primary: The primary already has a secondary attached.*\[LOCKSTEP_CHANNEL_BUSY\]/);
    await pair.primary.proc.waitFor(/refused a would-be secondary: The primary already has a secondary attached.*\[LOCKSTEP_CHANNEL_BUSY\]/);
    // It serves nothing and did not go live.
    const s = await status(second.url);
    expect(s?.role).toBe('secondary');
    expect(s?.connected).toBe(false);
    await primaryStillServes('after-busy');
    expect((await status(pair.primary.url))?.secondary).toBe((await status(pair.primary.url))?.secondary);
    await second.proc.kill();
  });

  it('refuses a secondary of another program, naming the mismatch on both sides', async () => {
    const other = await startSecondary({ dir, program: `${ROOT}/guest-programs/echo.js`, primaryUrl: `ws://127.0.0.1:${pair.primary.logPort}`, heartbeatMs: 50, failureTimeoutMs: 1000, name: 'other-program' });
    extra.push(other);
    const mismatch = /another program: echo\.js \(sha256 [0-9a-f]+\), but this program has sha256 [0-9a-f]+.*\[LOCKSTEP_CHANNEL_INCOMPATIBLE\]/;
    await pair.primary.proc.waitFor(new RegExp(`refused a would-be secondary: Channel peer is incompatible.*${mismatch.source}`));
    await other.proc.waitFor(new RegExp(`refused by the primary: .*${mismatch.source}`));
    // Refused for good: it never goes live, and stops (exit 1) so a supervisor sees it.
    expect((await other.proc.waitExit(5000)).code).toBe(1);
    expect(other.proc.stderr).not.toMatch(/LIVE as primary/);
    await primaryStillServes('after-other-program');
    // The real secondary still follows every entry.
    const p = await status(pair.primary.url);
    const s = await status(pair.secondary.url);
    expect(s?.connected).toBe(true);
    expect(s?.receivedSeq).toBeGreaterThanOrEqual((p?.lastSeq as number) - 10);
  });
});
