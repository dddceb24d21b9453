// Issue 19 (defect 8): a pair restores its own protection. A node that is fenced (a false failover,
// a freeze, a partition on the logging link) follows the new owner as a fresh secondary, in the same
// process, with nothing lost; --no-rejoin keeps the old exit (10). Real processes, real SIGSTOP.
import { describe, expect, it } from 'vitest';
import { add, ledgerCount, LEDGER, proxyTo, sleep, startPair, startPrimary, startSecondary, status, testResources, waitUntil, type StartedNode } from './helpers.js';

const { dirFor, track, closers } = testResources();

const TIMING = { heartbeatMs: 50, failureTimeoutMs: 300 };

async function addMany(url: string, prefix: string, n: number): Promise<number> {
  let told = 0;
  for (let i = 0; i < n; i++) told = JSON.parse((await add(url, `${prefix}-${i}`, '', 10_000)).body).n as number;
  return told;
}

const role = async (node: StartedNode) => (await status(node.url))?.role as string | undefined;

/** `owner` serves, protected by `follower` (which answers as a secondary); both processes alive. */
async function protectedBy(owner: StartedNode, follower: StartedNode): Promise<void> {
  await waitUntil(async () => (await status(owner.url))?.protection === 'protected' && (await role(follower)) === 'secondary', 20_000, `${owner.proc.name} protected by ${follower.proc.name}`);
  expect(owner.proc.alive && follower.proc.alive).toBe(true);
}

describe('a pair heals itself', () => {
  it('a primary frozen past the failure timeout is deposed, then rejoins its successor as a fresh secondary, which can take over again with nothing lost', async () => {
    const dir = await dirFor('heal-freeze');
    const pair = await startPair(dir, { ...TIMING, program: LEDGER });
    const [p, s] = [track(pair.primary), track(pair.secondary)];
    const told = await addMany(p.url, 'before', 30);
    p.proc.signal('SIGSTOP');
    await waitUntil(async () => (await role(s)) === 'primary', 20_000, 'successor live');
    await sleep(150);
    p.proc.signal('SIGCONT');
    await p.proc.waitFor(/rejoining the owner of epoch \d+ at ws:\/\/127\.0\.0\.1:\d+ as its secondary/, 20_000);
    await protectedBy(s, p);
    const last = await addMany(s.url, 'after', 10);
    expect(last).toBe(told + 10);
    // The rejoined node holds everything: it takes over in turn.
    s.proc.signal('SIGKILL');
    await waitUntil(async () => (await role(p)) === 'primary', 20_000, 'rejoined node live');
    expect(await ledgerCount(p.url)).toBe(last);
  });

  it('a partition of the logging link longer than the failure timeout: whichever side loses the claim rejoins the winner, and the pair is protected again', async () => {
    const dir = await dirFor('heal-partition');
    const primary = track(await startPrimary({ ...TIMING, dir, program: LEDGER }));
    const proxy = await proxyTo(primary, closers);
    const secondary = track(await startSecondary({ ...TIMING, dir, program: LEDGER, primaryUrl: `ws://127.0.0.1:${proxy.port}` }));
    await protectedBy(primary, secondary);
    const told = await addMany(primary.url, 'before', 20);
    proxy.set({ kind: 'blackhole' });
    await sleep(1000);
    proxy.set({ kind: 'pass' });
    // The winner is whichever claimed first; the other follows it.
    await waitUntil(async () => {
      const [a, b] = [await role(primary), await role(secondary)];
      return (a === 'primary' && b === 'secondary') || (a === 'secondary' && b === 'primary');
    }, 30_000, 'one owner, one follower');
    const [owner, follower] = (await role(primary)) === 'primary' ? [primary, secondary] : [secondary, primary];
    await protectedBy(owner, follower);
    const last = await addMany(owner.url, 'after', 10);
    expect(last).toBe(told + 10);
  });

  it('--no-rejoin keeps the old behaviour: a deposed primary exits 10', async () => {
    const dir = await dirFor('no-rejoin');
    const pair = await startPair(dir, { ...TIMING, program: LEDGER, primaryExtra: ['--no-rejoin'] });
    const [p, s] = [track(pair.primary), track(pair.secondary)];
    await addMany(p.url, 'before', 5);
    p.proc.signal('SIGSTOP');
    await waitUntil(async () => (await role(s)) === 'primary', 20_000, 'successor live');
    p.proc.signal('SIGCONT');
    expect((await p.proc.waitExit(20_000)).code).toBe(10);
  });
});
