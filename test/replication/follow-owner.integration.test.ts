// A node restarted with its original command must find the current owner, whatever its command
// says. A node started as `lockstep secondary --primary A` is promoted when A dies, protected by a
// fresh secondary C, and killed; C goes live. Restarted with its original command, its --primary (A)
// is dead for good: it asks the arbiter who owns the current epoch and follows C, instead of
// waiting in 'connecting' forever (found by `lockstep chaos --hosts`, seed 2104).
import { describe, expect, it } from 'vitest';
import { freePort, increment, startPrimary, startSecondary, status, testResources, waitUntil, type StartedNode } from './helpers.js';

const { dirFor, track } = testResources();
const TIMING = { heartbeatMs: 50, failureTimeoutMs: 1000 };

async function protectedBy(primary: StartedNode): Promise<void> {
  await waitUntil(async () => (await status(primary.url))?.protection === 'protected', 30_000, `${primary.proc.name} protected`);
}

describe('following the owner the arbiter names', () => {
  it('a promoted node, killed and restarted with its original command (its --primary dead), follows the current owner', { timeout: 120_000 }, async () => {
    const dir = await dirFor('follow-owner');
    const a = track(await startPrimary({ ...TIMING, dir, name: 'A' }));
    const bLogPort = await freePort();
    const bPort = await freePort();
    const bSpec = { ...TIMING, dir, name: 'B', port: bPort, logPort: bLogPort, primaryUrl: `ws://127.0.0.1:${a.logPort}` };
    const b = track(await startSecondary(bSpec));
    await protectedBy(a);
    expect((await increment(a.url, 'k1')).status).toBe(200);

    a.proc.signal('SIGKILL');
    await waitUntil(async () => (await status(b.url))?.role === 'primary', 30_000, 'B live');
    const c = track(await startSecondary({ ...TIMING, dir, name: 'C', primaryUrl: `ws://127.0.0.1:${bLogPort}` }));
    await protectedBy(b);
    expect((await increment(b.url, 'k2')).status).toBe(200);

    b.proc.signal('SIGKILL');
    await b.proc.waitExit();
    await waitUntil(async () => (await status(c.url))?.role === 'primary', 30_000, 'C live');
    const again = track(await startSecondary({ ...bSpec, name: 'B again' })); // the very same command: --primary is A, dead
    await again.proc.waitFor(/owner of epoch 2.*following it/, 20_000); // its command names A: only the arbiter can tell it where C is
    await protectedBy(c);
    expect((await status(c.url))?.secondary).toBeTruthy();
    // Nothing lost on the way: both answers stand, once each.
    expect(JSON.parse((await increment(c.url, 'k1')).body)).toEqual({ count: 1 });
    expect(JSON.parse((await increment(c.url, 'k2')).body)).toEqual({ count: 2 });
  });
});
