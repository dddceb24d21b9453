// Issue 10: heartbeats never wait behind the guest. One guest event may hold a node's event loop for
// its whole CPU budget; the logging channel beats from inside the guest's CPU slices, so a 300 ms
// failure timeout survives an event held for several failure timeouts on the primary (and its replay on the secondary), while a
// primary that is really stopped is still taken over.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { claimFiles, request, ROOT, startPair, status, testResources, waitUntil } from './helpers.js';

const { dirFor, track } = testResources();
const BURN = join(ROOT, 'test/fixtures/guests/burn.js');
const TIMING = { heartbeatMs: 50, failureTimeoutMs: 300 };
/** A CPU budget no event here reaches, on any machine: the long event is bounded by its own clock. */
const LONG_BUDGET = ['--cpu-polls-max', '10000000'];
/** How long the long event holds the node's loop, by the guest's logged clock: several failure timeouts. */
const SPIN_MS = 4 * TIMING.failureTimeoutMs;

/** A protected pair of the burn guest, both nodes with the long CPU budget. */
async function burnPair(dir: string) {
  const pair = await startPair(dir, { ...TIMING, program: BURN, primaryExtra: LONG_BUDGET, secondaryExtra: LONG_BUDGET });
  return { primary: track(pair.primary), secondary: track(pair.secondary) };
}

async function post(url: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) expect((await request(url, { method: 'POST', path: '/', timeoutMs: 5000 })).status).toBe(200);
}

async function count(url: string): Promise<number> {
  return (JSON.parse((await request(url, { path: '/', timeoutMs: 5000 })).body) as { count: number }).count;
}

describe('a guest event that runs for several failure timeouts', () => {
  it('is no failure: no claim, the pair stays protected, then a kill loses nothing', async () => {
    const dir = await dirFor('long-event');
    const { primary, secondary } = await burnPair(dir);
    await post(primary.url, 20);

    // The event spins until the guest's own clock (logged, so replayed alike) has advanced SPIN_MS:
    // the primary's loop was held that long whatever the machine's speed (an event stopped by its
    // CPU budget lasted 570 ms on one machine and 1-3 s on another).
    const spun = await request(primary.url, { path: `/spin/${SPIN_MS}`, timeoutMs: 60_000 });
    expect(spun.status, spun.body).toBe(200);
    expect((JSON.parse(spun.body) as { spunMs: number }).spunMs).toBeGreaterThanOrEqual(SPIN_MS);
    // The secondary replays the same event (as long); then both must still be what they were.
    await waitUntil(async () => (await status(secondary.url))?.lagEntries === 0, 60_000, 'secondary replayed the long event');
    await post(primary.url, 5);

    expect(await claimFiles(dir)).toEqual(['epoch-0']);
    expect((await status(primary.url))?.protection).toBe('protected');
    expect((await status(secondary.url))?.role).toBe('secondary');
    expect(primary.proc.stderr).not.toMatch(/secondary failed/);
    expect(secondary.proc.stderr).not.toMatch(/primary failed/);

    await primary.proc.kill();
    await waitUntil(async () => (await status(secondary.url))?.role === 'primary', 10_000, 'secondary live');
    expect(await count(secondary.url)).toBe(25);
  });

  it('a stopped primary (SIGSTOP) is still taken over within the failure timeout', async () => {
    const { primary, secondary } = await burnPair(await dirFor('stopped'));
    await post(primary.url, 10);
    primary.proc.signal('SIGSTOP');
    try {
      await waitUntil(async () => (await status(secondary.url))?.role === 'primary', 10_000, 'secondary live');
      expect(await count(secondary.url)).toBe(10);
      expect(secondary.proc.stderr).toMatch(/primary failed \(no authenticated frame for 300 ms\)/);
    } finally {
      primary.proc.signal('SIGCONT');
    }
  });
});
