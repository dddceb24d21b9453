// Issue 19 (defects 3 and 6): nothing unauthenticated ends protection. A reset link, an unsealed
// refusal on the way back in, or a blip while catching up makes the secondary reconnect; it declares
// the primary failed only after the failure timeout with no authenticated frame. Real processes,
// real sockets, the chaos link proxy between them.
import net from 'node:net';
import { WebSocketServer } from 'ws';
import { describe, expect, it } from 'vitest';
import { encodeMessage } from '../../src/channel/messages.js';
import { add, ledgerCount, LEDGER, proxyTo, sleep, startPrimary, startSecondary, status, testResources, waitUntil, type StartedNode } from './helpers.js';

const { dirFor, track, closers } = testResources();

/** Long enough that a reconnect (a few ms on loopback) always comes first. */
const TIMING = { heartbeatMs: 50, failureTimeoutMs: 3000 };
const BODY = 'x'.repeat(4096);

const protectedAgain = (primary: StartedNode) => waitUntil(async () => (await status(primary.url))?.protection === 'protected', 20_000, 'protected again');

async function addMany(url: string, prefix: string, n: number): Promise<number> {
  let told = 0;
  for (let i = 0; i < n; i++) told = JSON.parse((await add(url, `${prefix}-${i}`, BODY, 10_000)).body).n as number;
  return told;
}

/** After the blip: the same primary serves, protected again; killed, its secondary has every answer. */
async function checkHealed(primary: StartedNode, secondary: StartedNode, told: number): Promise<void> {
  await protectedAgain(primary);
  expect(primary.proc.alive && secondary.proc.alive).toBe(true);
  expect((await status(secondary.url))?.role).toBe('secondary');
  const last = await addMany(primary.url, 'after', 5);
  expect(last).toBe(told + 5);
  primary.proc.signal('SIGKILL');
  await waitUntil(async () => (await status(secondary.url))?.role === 'primary', 20_000, 'secondary live');
  expect(await ledgerCount(secondary.url)).toBe(last);
}

/** A TCP front for the logging port: connection number `fakeAt` goes to `fake`, every other one to the primary. */
async function routerTo(primaryPort: number, fakePort: number, fakeAt: number) {
  const sockets = new Set<net.Socket>();
  let connections = 0;
  const server = net.createServer((client) => {
    connections++;
    const upstream = net.connect(connections === fakeAt ? fakePort : primaryPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  closers.push(() => server.close());
  return {
    port: (server.address() as net.AddressInfo).port,
    get connections() {
      return connections;
    },
    resetAll: () => {
      for (const s of sockets) s.resetAndDestroy();
    },
  };
}

describe('link blips', () => {
  it('a TCP reset after attach: the secondary reconnects instead of going live, and the pair is protected again with nothing lost', async () => {
    const dir = await dirFor('reset');
    const primary = track(await startPrimary({ ...TIMING, dir, program: LEDGER }));
    const proxy = await proxyTo(primary, closers);
    const secondary = track(await startSecondary({ ...TIMING, dir, program: LEDGER, primaryUrl: `ws://127.0.0.1:${proxy.port}` }));
    await protectedAgain(primary);
    const told = await addMany(primary.url, 'before', 50);
    proxy.set({ kind: 'cut' }); // resets every connection
    await sleep(50);
    proxy.set({ kind: 'pass' });
    await waitUntil(() => proxy.connections >= 2, 10_000, 'reconnected');
    await checkHealed(primary, secondary, told);
  });

  it('an unsealed refusal on the way back in is not believed once attached: the secondary retries', async () => {
    const dir = await dirFor('unsealed-refuse');
    const primary = track(await startPrimary({ ...TIMING, dir, program: LEDGER }));
    // The second connection meets a stranger that refuses for good, unsealed, as anyone on the path could.
    const fake = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise((r) => fake.once('listening', r));
    fake.on('connection', (ws) => ws.send(encodeMessage({ type: 'refuse', code: 'LOCKSTEP_CHANNEL_INCOMPATIBLE', message: 'forged by the path' })));
    closers.push(() => fake.close());
    const router = await routerTo(primary.logPort, (fake.address() as net.AddressInfo).port, 2);
    const secondary = track(await startSecondary({ ...TIMING, dir, program: LEDGER, primaryUrl: `ws://127.0.0.1:${router.port}` }));
    await protectedAgain(primary);
    const told = await addMany(primary.url, 'before', 20);
    router.resetAll();
    await waitUntil(() => router.connections >= 3, 10_000, 'past the stranger');
    expect(secondary.proc.stderr).toMatch(/forged by the path \(unsealed\) \[LOCKSTEP_CHANNEL_INCOMPATIBLE\] \(retrying\)/);
    await checkHealed(primary, secondary, told);
  });

  it('a blip while catching up (the primary claims a new epoch meanwhile): the secondary keeps what it holds, since the log continues, and catches up', async () => {
    const dir = await dirFor('blip-catching-up');
    const primary = track(await startPrimary({ ...TIMING, dir, program: LEDGER }));
    const told = await addMany(primary.url, 'history', 600); // several in-flight windows: catching up takes round trips
    const proxy = await proxyTo(primary, closers, { kind: 'slow', delayMs: 300 });
    const secondary = track(await startSecondary({ ...TIMING, dir, program: LEDGER, primaryUrl: `ws://127.0.0.1:${proxy.port}` }));
    await waitUntil(async () => {
      const s = await status(secondary.url);
      return s?.receivedSeq > 0 && s?.caughtUp === false;
    }, 20_000, 'secondary part way through catching up');
    proxy.set({ kind: 'cut' });
    await sleep(50);
    proxy.set({ kind: 'pass' });
    await waitUntil(async () => ((await status(primary.url))?.epoch ?? 0) >= 1, 10_000, 'primary claimed a new epoch');
    await checkHealed(primary, secondary, told);
    expect(secondary.proc.stderr).not.toMatch(/LOCKSTEP_LINEAGE_CHANGED|dropping what we hold/);
  });
});
