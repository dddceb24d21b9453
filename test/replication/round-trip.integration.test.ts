// Issue 19: the windows one round trip wide, run through a delayed logging link (the chaos link
// proxy), with real processes and real kills. Loopback (0.05 ms) hides every one of them.
import { describe, expect, it } from 'vitest';
import { add, ledgerCount, LEDGER, proxyTo, sleep, startPair, startPrimary, startSecondary, status, testResources, waitUntil } from './helpers.js';

const { dirFor, track, closers } = testResources();

/** Per direction: a round trip is twice this. */
const LEG_MS = 400;
/** The lease needs a heartbeat echo younger than 0.9 x the timeout: one round trip (800 ms) must fit. */
const TIMING = { heartbeatMs: 50, failureTimeoutMs: 2500 };
const BODY = 'x'.repeat(4096);

/** Clients adding with fresh keys until stopped; `told` is the highest count any client was answered. */
function keyedLoad(url: string, clients: number) {
  const state = { told: 0, answered: 0, stopped: false };
  const loops = Array.from({ length: clients }, async (_, c) => {
    for (let i = 0; !state.stopped; i++) {
      try {
        const answer = await add(url, `load-${c}-${i}`, BODY, 20_000);
        if (answer.status !== 200) continue;
        state.answered++;
        state.told = Math.max(state.told, (JSON.parse(answer.body) as { n: number }).n);
      } catch {
        await sleep(20); // the node is gone: nothing was told
      }
    }
  });
  return { state, stop: async () => { state.stopped = true; await Promise.all(loops); } };
}

describe('windows one round trip wide', () => {
  it('a secondary attaching to a primary serving alone is caught up to everything answered: the primary dies the moment it says so, and the survivor lost nothing', async () => {
    const dir = await dirFor('attach-window');
    const primary = track(await startPrimary({ ...TIMING, dir, program: LEDGER }));
    // A history longer than one in-flight window, so catching up takes several round trips.
    for (let i = 0; i < 300; i++) expect((await add(primary.url, `history-${i}`, BODY)).status).toBe(200);
    const proxy = await proxyTo(primary, closers, { kind: 'slow', delayMs: LEG_MS });
    const load = keyedLoad(primary.url, 4);
    await sleep(100);
    const secondary = track(await startSecondary({ ...TIMING, dir, program: LEDGER, primaryUrl: `ws://127.0.0.1:${proxy.port}` }));
    await secondary.proc.waitFor(/caught up: holding #\d+/, 30_000);
    primary.proc.signal('SIGKILL');
    await load.stop();
    await waitUntil(async () => (await status(secondary.url))?.role === 'primary', 20_000, 'survivor live');
    const survivorCount = await ledgerCount(secondary.url);
    expect(load.state.answered).toBeGreaterThan(0);
    // Every count a client was told is in the survivor's state, so its next answer is a new count.
    expect(survivorCount).toBeGreaterThanOrEqual(load.state.told);
    const next = JSON.parse((await add(secondary.url, 'after-failover', '')).body) as { n: number };
    expect(next.n).toBeGreaterThan(load.state.told);
  });

  it('a frozen old primary answers nothing after its successor claimed, not even a stored answer to a re-asked key', async () => {
    const dir = await dirFor('stored-answer-lease');
    const pair = await startPair(dir, { program: LEDGER, heartbeatMs: 50, failureTimeoutMs: 300 });
    track(pair.primary);
    track(pair.secondary);
    const keys = Array.from({ length: 20 }, (_, i) => `stored-${i}`);
    for (const key of keys) expect((await add(pair.primary.url, key)).status).toBe(200);
    pair.primary.proc.signal('SIGSTOP');
    await waitUntil(async () => (await status(pair.secondary.url))?.role === 'primary', 20_000, 'successor live');
    // Re-ask every key of the frozen node; the requests wait in its socket until it resumes.
    const reasked = keys.map((key) => add(pair.primary.url, key, '', 10_000).then((a) => a.status, () => 'no answer'));
    await sleep(200);
    pair.primary.proc.signal('SIGCONT');
    const answers = await Promise.all(reasked);
    expect(answers.filter((a) => a === 200)).toEqual([]);
    // It learns it lost (fenced) and follows its successor; the successor answers each key with its stored answer.
    await pair.primary.proc.waitFor(/FENCED: .*\n(.|\n)*rejoining the owner of epoch 1/, 20_000);
    for (const [i, key] of keys.entries()) expect(JSON.parse((await add(pair.secondary.url, key)).body).n).toBe(i + 1);
  });

  it('a checkpoint offered at the handshake is still there when the attach completes a round trip later, under load with frequent checkpoints', async () => {
    const dir = await dirFor('offered-checkpoint');
    const often = ['--checkpoint-every-entries', '20'];
    const primary = track(await startPrimary({ ...TIMING, dir, program: LEDGER, extra: often }));
    for (let i = 0; i < 100; i++) expect((await add(primary.url, `history-${i}`, '')).status).toBe(200);
    const proxy = await proxyTo(primary, closers, { kind: 'slow', delayMs: LEG_MS });
    const load = keyedLoad(primary.url, 4); // a new checkpoint every few ms, well within one round trip
    try {
      const secondary = track(await startSecondary({ ...TIMING, dir, program: LEDGER, primaryUrl: `ws://127.0.0.1:${proxy.port}`, extra: often }));
      await waitUntil(async () => (await status(primary.url))?.protection === 'protected', 30_000, 'protected through the slow link');
      expect(primary.proc.stderr).not.toMatch(/keeps entries only from/);
      expect((await status(secondary.url))?.restoredFromSeq).toBeGreaterThan(0);
    } finally {
      await load.stop();
    }
  });
});
