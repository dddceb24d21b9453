// Issue 20, item 2: names the host keeps for itself in the guest's data directory never collide
// with a guest's paths. Guest files whose names held `.lockstep-tmp-` (the host's temp-file mark)
// vanished at every failover, whole subtrees too; now any such name is the guest's own, and only
// `.lockstep/` (the host's) is refused, with an error that says so.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { request, ROOT, startPair, status, testResources, waitUntil } from './helpers.js';

const { dirFor, track } = testResources();
const READER = join(ROOT, 'test/fixtures/guests/reader.js');
const NAMES = ['notes.lockstep-tmp-1.txt', 'a.lockstep-tmp-9-9/inner.txt', 'plain.txt'];

async function call(url: string, method: string, path: string, body = '') {
  const answer = await request(url, { method, path, body, timeoutMs: 10_000 });
  return { status: answer.status, body: JSON.parse(answer.body) as { chars?: number; wrote?: number; error?: string } };
}

describe('names in the guest data directory', () => {
  it("a guest's files keep their names across a failover, whatever they contain; the host's own are refused clearly", { timeout: 90_000 }, async () => {
    const pair = await startPair(await dirFor('reserved'), { program: READER, failureTimeoutMs: 2000 });
    const primary = track(pair.primary);
    const secondary = track(pair.secondary);
    for (const name of NAMES) expect(await call(primary.url, 'POST', `/write/${name}`, `text of ${name}`)).toEqual({ status: 200, body: { wrote: `text of ${name}`.length } });
    const refused = await call(primary.url, 'POST', '/write/.lockstep/mine.txt', 'x');
    expect(refused.status).toBe(500);
    expect(refused.body.error).toMatch(/^EACCES: \.lockstep\/ is reserved for the host .*: \.lockstep\/mine\.txt/);

    await primary.proc.kill();
    await waitUntil(async () => (await status(secondary.url))?.role === 'primary', 20_000, 'secondary live');
    for (const name of NAMES) expect(await call(secondary.url, 'GET', `/read/${name}`)).toEqual({ status: 200, body: { chars: `text of ${name}`.length } });
  });
});
