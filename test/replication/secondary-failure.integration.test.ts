// The secondary is SIGKILLed under load: the primary wins the claim for the next epoch and goes on
// alone (unprotected), every key is answered (none stays stuck behind the output gate) and the
// counter holds exactly the answered increments.
import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runLoad } from '../../src/client/load-client.js';
import { assertBuilt, claimFiles, count, startPair, status, tempDir, type Pair } from './helpers.js';
import { checkAnswers } from './kill-loop.js';

let dir: string;
let pair: Pair | undefined;
beforeAll(async () => {
  assertBuilt();
  dir = await tempDir('secondary-killed');
});
afterAll(async () => {
  await pair?.kill();
  await rm(dir, { recursive: true, force: true });
});

describe('SIGKILL of the secondary under load', () => {
  it('the primary claims the next epoch and goes on alone; nothing stays stuck', async () => {
    pair = await startPair(dir, { heartbeatMs: 50, failureTimeoutMs: 1000 });
    const killer = setTimeout(() => pair!.secondary.proc.signal('SIGKILL'), 600);
    const summary = await runLoad({
      targets: [pair.primary.url, pair.secondary.url],
      rate: 0,
      concurrency: 6,
      durationMs: 1500,
      requestTimeoutMs: 3000,
      retryBackoffMs: 20,
      retryBackoffMaxMs: 150,
      giveUpAfterMs: 15_000,
      lateAnswerWindowMs: 300,
      seed: 7,
    });
    clearTimeout(killer);
    expect((await pair.secondary.proc.exited).signal).toBe('SIGKILL');
    await pair.primary.proc.waitFor(/secondary failed \(closed: connection closed\); claiming epoch 1/);
    await pair.primary.proc.waitFor(/won epoch 1; going on alone, unprotected/);
    const s = await status(pair.primary.url);
    expect(s).toMatchObject({ role: 'primary', protection: 'unprotected', epoch: 1, outputsWaiting: 0 });
    expect(await claimFiles(dir)).toEqual(['epoch-0', 'epoch-1']);
    expect(summary.lost).toBe(0);
    expect(summary.duplicates).toBe(0);
    expect(summary.statusCounts).toEqual({ '200': summary.sent });
    expect(summary.sent).toBeGreaterThan(20);
    const finalCount = await count(pair.primary.url);
    expect(checkAnswers(summary, finalCount, { told: new Set(), ok200: 0, sent: 0 })).toEqual([]);
    expect(finalCount).toBe(summary.sent);
    expect(pair.primary.proc.alive).toBe(true);
  });
});
