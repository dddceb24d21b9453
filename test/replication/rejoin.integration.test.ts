// After a failover the promoted secondary is unprotected; a fresh `lockstep secondary` pointed at
// its logging channel catches up on the whole log and protects it again.
import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, claimFiles, count, increment, startPair, startSecondary, status, tempDir, waitUntil, type Pair, type StartedNode } from './helpers.js';

let dir: string;
let pair: Pair | undefined;
let fresh: StartedNode | undefined;
beforeAll(async () => {
  assertBuilt();
  dir = await tempDir('rejoin');
});
afterAll(async () => {
  await Promise.all([pair?.kill(), fresh?.proc.kill()]);
  await rm(dir, { recursive: true, force: true });
});

describe('a fresh secondary joins a promoted secondary', () => {
  it('catches up and the survivor is protected again', async () => {
    pair = await startPair(dir, { heartbeatMs: 50, failureTimeoutMs: 1000 });
    for (let i = 0; i < 20; i++) expect((await increment(pair.primary.url, `before-${i}`)).status).toBe(200);
    await pair.primary.proc.kill();
    const survivor = pair.secondary;
    await waitUntil(async () => (await status(survivor.url))?.role === 'primary', 10_000, 'the secondary went live');
    expect(await status(survivor.url)).toMatchObject({ protection: 'unprotected', epoch: 1, promotedFromSecondary: true });
    for (let i = 0; i < 10; i++) expect((await increment(survivor.url, `alone-${i}`)).status).toBe(200);

    fresh = await startSecondary({ dir, primaryUrl: `ws://127.0.0.1:${survivor.logPort}`, heartbeatMs: 50, failureTimeoutMs: 1000, name: 'fresh-secondary' });
    await waitUntil(async () => (await status(survivor.url))?.protection === 'protected', 15_000, 'survivor protected again');
    await waitUntil(async () => {
      const [p, s] = [await status(survivor.url), await status(fresh!.url)];
      return !!p && !!s && s.receivedSeq === p.lastSeq && s.replayedSeq === p.lastSeq;
    }, 15_000, 'the fresh secondary caught up');
    const s = await status(fresh.url);
    expect(s).toMatchObject({ role: 'secondary', epoch: 1, connected: true });
    await fresh.proc.waitFor(/following ws:\/\/127\.0\.0\.1:\d+ \(epoch 1\) from entry #1/);

    // Gated again: answers now wait for the fresh secondary's acks, and it keeps up.
    for (let i = 0; i < 10; i++) expect(JSON.parse((await increment(survivor.url, `protected-${i}`)).body)).toEqual({ count: 31 + i });
    const p = await status(survivor.url);
    await waitUntil(async () => (await status(fresh!.url))?.receivedSeq === p?.lastSeq, 5000, 'fresh secondary follows');
    expect(p?.ackedSeq).toBe(p?.lastSeq);
    expect(await count(survivor.url)).toBe(40);
    // And it can take over in turn: kill the survivor.
    await survivor.proc.kill();
    await waitUntil(async () => (await status(fresh!.url))?.role === 'primary', 10_000, 'the fresh secondary went live');
    expect(await count(fresh.url)).toBe(40);
    expect((await increment(fresh.url, 'protected-3')).body).toBe(JSON.stringify({ count: 34 })); // the stored answer
    expect(await claimFiles(dir)).toEqual(['epoch-0', 'epoch-1', 'epoch-2']);
  });
});
