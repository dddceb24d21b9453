// Planned stops (SIGTERM) are not failures: a stopped primary says bye, so its secondary does not
// go live (no claim); a stopped secondary says bye, so the primary goes on alone at once, without
// waiting for the failure timeout and without a claim.
import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, claimFiles, increment, sleep, startPair, status, tempDir, waitUntil, type Pair } from './helpers.js';

const pairs: Pair[] = [];
const dirs: string[] = [];
beforeAll(() => assertBuilt());
afterAll(async () => {
  await Promise.all(pairs.map((p) => p.kill()));
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function freshPair(failureTimeoutMs: number): Promise<Pair> {
  const dir = await tempDir('planned');
  dirs.push(dir);
  const pair = await startPair(dir, { heartbeatMs: 50, failureTimeoutMs });
  pairs.push(pair);
  for (let i = 0; i < 5; i++) expect((await increment(pair.primary.url, `warm-${i}`)).status).toBe(200);
  return pair;
}

describe.concurrent('planned stop', () => {
  it('SIGTERM of the primary: the secondary does not go live', async () => {
    const pair = await freshPair(1000);
    pair.primary.proc.signal('SIGTERM');
    expect((await pair.primary.proc.waitExit()).code).toBe(0);
    expect((await pair.secondary.proc.waitExit()).code).toBe(0);
    expect(pair.secondary.proc.stderr).toMatch(/the primary stopped on purpose \(SIGTERM \(planned stop\)\); not going live/);
    expect(pair.secondary.proc.stderr).not.toMatch(/claiming epoch|LIVE as primary/);
    expect(await claimFiles(pair.dir)).toEqual(['epoch-0']);
  });

  it('SIGTERM of the secondary: the primary goes on alone at once and keeps answering', async () => {
    const failureTimeoutMs = 5000; // far longer than what we allow: the bye, not the timeout, must do it
    const pair = await freshPair(failureTimeoutMs);
    pair.secondary.proc.signal('SIGTERM');
    await waitUntil(async () => (await status(pair.primary.url))?.protection === 'unprotected', 30_000, 'primary unprotected');
    expect((await pair.secondary.proc.waitExit()).code).toBe(0);
    // The bye did it, not the timeout (which would have made the primary arbitrate and claim epoch 1).
    await pair.primary.proc.waitFor(/secondary stopped on purpose .*going on alone, unprotected/);
    expect(pair.primary.proc.stderr).not.toMatch(/secondary failed/);
    expect(await claimFiles(pair.dir)).toEqual(['epoch-0']);
    const answer = await increment(pair.primary.url, 'after-bye', 1000);
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toEqual({ count: 6 });
    const s = await status(pair.primary.url);
    expect(s).toMatchObject({ role: 'primary', protection: 'unprotected', epoch: 0 });
    expect(await claimFiles(pair.dir)).toEqual(['epoch-0']);
    await sleep(100);
    expect(pair.primary.proc.alive).toBe(true);
  });
});
