// A Workers-style guest (guest-programs/shortener.js: Request, Response, URL, env.storage) in a
// real pair: links created and visited with Idempotency-Keys, a SIGKILL of the primary, and the
// survivor holds every link and every counted visit. The store is on disk before an answer leaves:
// a fresh node started on a copy of the data directory (no log at all) serves the same links.
// Binary answers arrive byte for byte, and the recordings replay in far time zones and locales.
import { cp, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FAR_ENVS, runCli, startRun, type RunningNode } from '../../scripts/record-fixtures.lib.js';
import { assertBuilt, request, ROOT, startPair, status, tempDir, waitUntil, type Pair } from '../replication/helpers.js';

const SHORTENER = join(ROOT, 'guest-programs', 'shortener.js');
const BYTES = join(ROOT, 'test', 'fixtures', 'guests', 'bytes.js');
let pair: Pair | undefined;
const runs: RunningNode[] = [];
afterAll(async () => {
  await pair?.kill();
  for (const run of runs) run.child.kill('SIGKILL');
});

async function send(url: string, method: string, path: string, body?: unknown, key?: string) {
  const answer = await request(url, {
    method,
    path,
    body: body === undefined ? undefined : JSON.stringify(body),
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...(key ? { 'idempotency-key': key } : {}) },
    timeoutMs: 5_000,
  });
  return { status: answer.status, location: answer.headers.location, json: answer.body.startsWith('{') ? JSON.parse(answer.body) : answer.body };
}

describe('a Workers-style guest in a pair', () => {
  it('loses no link and no visit across a SIGKILL of the primary, and the store is on disk', { timeout: 60_000 }, async () => {
    assertBuilt();
    const dir = await tempDir('shortener');
    // core-js (URL) is evaluated at each guest's setup, not in an event, but a secondary still sets
    // up its guest on the first log entry, while attached: a pause that can pass 300 ms on this shared
    // 2-core machine under load. 1 s is the default failure timeout.
    pair = await startPair(dir, { program: SHORTENER, failureTimeoutMs: 1000 });
    const primary = pair.primary.url;
    const created = [];
    for (let i = 0; i < 12; i++) {
      const answer = await send(primary, 'POST', '/links', { url: `https://example.com/page/${i}?q=${i}`, ...(i % 3 === 0 ? { slug: `named-${i}` } : {}) }, `create-${i}`);
      expect(answer.status, JSON.stringify(answer)).toBe(201);
      created.push(answer.json as { slug: string; url: string; short: string });
    }
    expect(created[0]!.short).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/named-0$/);
    expect((await send(primary, 'POST', '/links', { url: 'https://example.com/', slug: 'named-0' })).status).toBe(409);
    expect((await send(primary, 'POST', '/links', { url: 'javascript:alert(1)' })).json.error).toBe('bad_url');
    // A retried create gets the stored answer, not a second link.
    expect((await send(primary, 'POST', '/links', { url: 'https://example.com/page/1?q=1' }, 'create-1')).json).toEqual(created[1]);
    for (const [i, link] of created.entries()) {
      for (let visit = 0; visit < (i % 4) + 1; visit++) {
        const answer = await send(primary, 'GET', `/${link.slug}`, undefined, `visit-${i}-${visit}`);
        expect(answer.status).toBe(302);
        expect(answer.location).toBe(link.url);
      }
    }

    pair.primary.proc.signal('SIGKILL');
    await waitUntil(async () => (await status(pair!.secondary.url))?.role === 'primary', 10_000, 'the secondary went live');
    const survivor = pair.secondary.url;
    // A visit retried after failover is not counted twice.
    expect((await send(survivor, 'GET', `/${created[0]!.slug}`, undefined, 'visit-0-0')).status).toBe(302);
    const listed = (await send(survivor, 'GET', '/links?limit=100')).json.links as Array<{ slug: string; url: string; hits: number }>;
    expect(listed.map((l) => l.slug).sort()).toEqual(created.map((l) => l.slug).sort());
    for (const [i, link] of created.entries()) expect(listed.find((l) => l.slug === link.slug)?.hits, link.slug).toBe((i % 4) + 1);

    // Durable on the shared disk: a node with no log, on a copy of the data directory, has them all.
    await pair.kill();
    const copy = await tempDir('shortener-copy');
    await mkdir(copy, { recursive: true });
    await cp(join(dir, 'data'), join(copy, 'data'), { recursive: true });
    expect(JSON.parse(await readFile(join(copy, 'data', '.lockstep', 'storage.json'), 'utf8')).format).toBe(1);
    const fresh = await startRun(SHORTENER, ['--dir', copy]);
    runs.push(fresh);
    const url = `http://127.0.0.1:${fresh.port}`;
    const stats = await send(url, 'GET', `/links/${created[5]!.slug}`);
    expect(stats.json).toMatchObject({ slug: created[5]!.slug, url: created[5]!.url, hits: (5 % 4) + 1 });
  });
});

describe('binary answers', () => {
  it('arrive byte for byte, and the recording replays in far time zones and locales', { timeout: 60_000 }, async () => {
    const dir = await tempDir('bytes');
    const logPath = join(dir, 'bytes.log');
    const node = await startRun(BYTES, ['--dir', dir, '--record', logPath]);
    runs.push(node);
    const all = await fetch(`http://127.0.0.1:${node.port}/all-bytes`);
    expect(all.headers.get('content-type')).toBe('application/octet-stream');
    expect([...new Uint8Array(await all.arrayBuffer())]).toEqual(Array.from({ length: 256 }, (_, i) => 255 - i));
    const text = await fetch(`http://127.0.0.1:${node.port}/buffer?text=${encodeURIComponent('héllo ✓ 😀')}`);
    expect(await text.text()).toBe('héllo ✓ 😀');
    const result = await node.stop();
    expect(result.code).toBe(0);
    for (const env of FAR_ENVS) {
      const replayed = await runCli(['replay', logPath, BYTES], env);
      expect(replayed.stderr).toBe('');
      expect(replayed.code).toBe(0);
    }
  });
});
