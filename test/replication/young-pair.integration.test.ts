// Issue 19: a young pair whose primary dies right after its first batch. The secondary may not have
// booted its replayer yet when the failure is declared: it must boot it, replay, and go live with
// every answer the primary gave. Several trials, real processes, real SIGKILL.
import { describe, expect, it } from 'vitest';
import { add, LEDGER, ledgerCount, startPrimary, startSecondary, status, testResources, waitUntil } from './helpers.js';

const { dirFor, track } = testResources();
const TRIALS = 4;

describe('a young pair', () => {
  it('the primary dies right after its first answer: the secondary boots its replay and goes live with it', async () => {
    for (let trial = 0; trial < TRIALS; trial++) {
      const dir = await dirFor(`young-${trial}`);
      const primary = track(await startPrimary({ heartbeatMs: 50, failureTimeoutMs: 300, dir, program: LEDGER }));
      const secondary = track(await startSecondary({ heartbeatMs: 50, failureTimeoutMs: 300, dir, program: LEDGER, primaryUrl: `ws://127.0.0.1:${primary.logPort}` }));
      await waitUntil(async () => (await status(primary.url))?.protection === 'protected', 20_000, 'protected');
      const answer = await add(primary.url, `first-${trial}`);
      expect(answer.status).toBe(200);
      primary.proc.signal('SIGKILL');
      await waitUntil(async () => (await status(secondary.url))?.role === 'primary', 20_000, `trial ${trial}: secondary live`);
      expect(await ledgerCount(secondary.url)).toBe(1);
      await secondary.proc.kill();
    }
  });
});
