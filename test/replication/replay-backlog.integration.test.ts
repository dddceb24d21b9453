// Issue 19 (defect 5): failover time is bounded in replay time, not in entries. With CPU-heavy
// events and a secondary that replays slower (a slower host), the events sent beyond what it has
// replayed stay within --replay-backlog-ms-max of their live cost, so what a go-live must replay
// first stays short; 4,096 such entries would take minutes. Nothing is lost.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { request, ROOT, sleep, startPrimary, startSecondary, status, testResources, waitUntil } from './helpers.js';

const { dirFor, track } = testResources();
const SPIN = join(ROOT, 'test/fixtures/guests/spin.js');
/** The slowed replay busy-waits outside the guest, where no heartbeat leaves: the timeout must cover it with room. */
const TIMING = { heartbeatMs: 50, failureTimeoutMs: 5000 };
const BOUND_MS = 300;

const spin = (url: string) => request(url, { method: 'POST', path: '/spin', timeoutMs: 30_000 });

describe('the replay backlog in time', () => {
  it('a slower secondary is sent at most the bound of CPU-heavy events beyond its replay; it takes over with nothing lost', async () => {
    const dir = await dirFor('backlog-ms');
    const primary = track(await startPrimary({ ...TIMING, dir, program: SPIN, extra: ['--replay-backlog-ms-max', String(BOUND_MS)] }));
    // What one event costs here, as a client sees it alone (an upper bound on its live cost).
    const started = Date.now();
    for (let i = 0; i < 5; i++) expect((await spin(primary.url)).status).toBe(200);
    const eventMs = (Date.now() - started) / 5;
    const secondary = track(await startSecondary({ ...TIMING, dir, program: SPIN, primaryUrl: `ws://127.0.0.1:${primary.logPort}`, env: { LOCKSTEP_FAULT_SLOW_REPLAY_MS: String(Math.min(Math.round(3 * eventMs), 1000)) } }));
    await waitUntil(async () => (await status(primary.url))?.protection === 'protected', 20_000, 'protected');

    let maxLag = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const s = await status(secondary.url, 3000);
        if (s) maxLag = Math.max(maxLag, s.lagEntries as number);
        await sleep(25);
      }
    })();
    const loadUntil = Date.now() + 10_000;
    let answered = 5;
    await Promise.all(Array.from({ length: 4 }, async () => {
      while (Date.now() < loadUntil) if ((await spin(primary.url)).status === 200) answered++;
    }));
    sampling = false;
    await sampler;
    // An entry per event here (and a check entry every 64 events): the bound allows BOUND_MS / eventMs events, and one more.
    const allowed = 4 * (Math.ceil(BOUND_MS / eventMs) + 2);
    expect(maxLag).toBeGreaterThan(0);
    expect(maxLag).toBeLessThanOrEqual(allowed);
    await primary.proc.kill();
    // It replays what it holds first, each entry slowed by the fault: generous.
    await waitUntil(async () => (await status(secondary.url))?.role === 'primary', 120_000, 'secondary live');
    const n = JSON.parse((await request(secondary.url, { path: '/n', timeoutMs: 5000 })).body).n as number;
    expect(n).toBeGreaterThanOrEqual(answered);
  }, 240_000);
});
