// The etcd arbiter's leases and membership, on a real etcd:
//   - a claim lives as long as its owner's lease: kept alive, it stays; once the owner stops
//     (no keepalives) it lapses, current() says so, and only the node that was its primary (by
//     its name) may claim the next epoch on that ground;
//   - a failover claim needs membership of the epoch before: a stranger on the prefix loses, a
//     secondary the owner declared wins;
//   - the owner's own deadline: releasableUntilMs moves on with each keepalive and stops moving
//     when etcd is cut off (a keepalive failure is not a fence, but nothing is released past it);
//   - a real lone primary (`lockstep primary`) whose etcd is cut off holds its answers once its
//     deadline passes, and releases them when etcd is back; nothing is lost.
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { afterAll, describe, expect, it } from 'vitest';
import { EtcdArbiter } from '../../src/replication/etcd-arbiter.js';
import { listenOnLoopback, increment, sleep, startPrimary, status, testResources, waitUntil } from './helpers.js';
import { startEtcd } from './etcd-server.js';

const etcd = await startEtcd();
const up = 'url' in etcd ? etcd : undefined;
afterAll(async () => {
  await up?.stop();
});
const { dirFor, track, closers } = testResources();
const LEASE_MS = 2000;
const freshPrefix = () => `lease-${randomBytes(4).toString('hex')}`;

/** A TCP proxy to etcd that can be cut (every connection destroyed, new ones refused) and healed. */
async function cuttableProxy(port: number): Promise<{ url: string; cut(): void; heal(): void }> {
  const sockets = new Set<net.Socket>();
  let open = true;
  const server = net.createServer((client) => {
    if (!open) return client.destroy();
    const upstream = net.connect(port, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => (client.destroy(), upstream.destroy(), sockets.delete(s)));
    }
    client.pipe(upstream).pipe(client);
  });
  const listening = await listenOnLoopback(server, sockets);
  closers.push(listening.close);
  return {
    url: `etcd://127.0.0.1:${listening.port}`,
    cut() {
      open = false;
      for (const s of sockets) s.destroy();
    },
    heal() {
      open = true;
    },
  };
}

describe.skipIf(!up)('etcd leases and membership', () => {
  const url = up?.url ?? '';

  it('a claim lapses when its owner stops keeping its lease alive; only its primary may claim on from it', { timeout: 30_000 }, async () => {
    const prefix = freshPrefix();
    const owner = new EtcdArbiter(url, prefix, undefined, { node: 'node-a', leaseTtlMs: LEASE_MS });
    expect(await owner.claim(3, 'owner of 3')).toBe('won');
    await sleep(LEASE_MS * 1.5); // kept alive meanwhile
    expect(await owner.current()).toMatchObject({ epoch: 3, record: { node: 'node-a' } });
    owner.close(); // the owner dies: no more keepalives
    await waitUntil(async () => (await owner.current()).lapsed === true, LEASE_MS * 4, 'the claim lapsed');
    expect(await owner.current()).toEqual({ epoch: 3, record: undefined, lapsed: true });
    expect(await new EtcdArbiter(url, prefix, undefined, { node: 'node-a' }).wasPrimaryOf(3)).toBe(true);
    expect(await new EtcdArbiter(url, prefix, undefined, { node: 'node-b' }).wasPrimaryOf(3)).toBe(false);
    // Epoch 3 itself is never claimed again; 4 by its primary (a member of 3) is.
    expect(await new EtcdArbiter(url, prefix, undefined, { node: 'node-a' }).claim(3, 'again')).toBe('lost');
    const restarted = new EtcdArbiter(url, prefix, undefined, { node: 'node-a', leaseTtlMs: LEASE_MS });
    expect(await restarted.claim(4, 'restarted owner', undefined, { asMember: true })).toBe('won');
    restarted.close();
  });

  it('a failover claim needs membership of the epoch before: a stranger loses, a declared secondary wins', async () => {
    const prefix = freshPrefix();
    const primary = new EtcdArbiter(url, prefix, undefined, { node: 'primary-node', leaseTtlMs: LEASE_MS });
    expect(await primary.claim(0, 'primary')).toBe('won');
    const stranger = new EtcdArbiter(url, prefix, undefined, { node: 'stranger', leaseTtlMs: LEASE_MS });
    expect(await stranger.claim(1, 'stranger', undefined, { asMember: true })).toBe('lost');
    await primary.declareMember(0, 'secondary-node');
    const secondary = new EtcdArbiter(url, prefix, undefined, { node: 'secondary-node', leaseTtlMs: LEASE_MS });
    expect(await secondary.claim(1, 'secondary', undefined, { asMember: true })).toBe('won');
    expect(secondary.tokenOf(1)).toBeGreaterThan(primary.tokenOf(0));
    for (const a of [primary, stranger, secondary]) a.close();
  });

  it("the owner's own deadline moves on with keepalives and stops when etcd is cut off", { timeout: 30_000 }, async () => {
    const proxy = await cuttableProxy(up!.clientPort);
    const arbiter = new EtcdArbiter(proxy.url, freshPrefix(), { requestTimeoutMs: 300 }, { node: 'n', leaseTtlMs: LEASE_MS });
    expect(await arbiter.claim(0, 'owner')).toBe('won');
    const first = arbiter.releasableUntilMs();
    expect(first).toBeGreaterThan(performance.now());
    await sleep(LEASE_MS);
    const renewed = arbiter.releasableUntilMs();
    expect(renewed).toBeGreaterThan(first);
    expect(renewed).toBeGreaterThan(performance.now());
    proxy.cut();
    await waitUntil(() => arbiter.releasableUntilMs() < performance.now(), LEASE_MS * 3, 'the deadline passed');
    expect(arbiter.describe()).toMatchObject({ reachable: false });
    proxy.heal();
    await waitUntil(() => arbiter.releasableUntilMs() > performance.now(), LEASE_MS * 5, 'the deadline moves again');
    arbiter.close();
  });

  it('a lone primary cut off from etcd holds its answers past its deadline and releases them when etcd is back', { timeout: 60_000 }, async () => {
    const proxy = await cuttableProxy(up!.clientPort);
    const dir = await dirFor('lease-lone');
    const primary = track(await startPrimary({ dir, extra: ['--arbiter', proxy.url, '--arbiter-prefix', freshPrefix(), '--arbiter-lease-ms', String(LEASE_MS)] }));
    expect((await increment(primary.url, 'before')).status).toBe(200);
    proxy.cut();
    await sleep(LEASE_MS); // past 0.8 of the lease since the last keepalive that got through
    const held = increment(primary.url, 'during', 30_000);
    const early = await Promise.race([held.then(() => 'answered'), sleep(LEASE_MS).then(() => 'held')]);
    expect(early).toBe('held');
    expect((await status(primary.url))?.arbiter).toMatchObject({ kind: 'etcd', reachable: false });
    proxy.heal();
    const answer = await held;
    expect(answer.status).toBe(200);
    expect((await increment(primary.url, 'after')).status).toBe(200);
    expect(JSON.parse((await increment(primary.url, 'during')).body)).toEqual(JSON.parse(answer.body)); // the stored answer: once
  });
});
