// The etcd arbiter against a real etcd (Debian's etcd-server): racing claimants of one epoch have
// exactly one winner and every loser learns the owner from its own reply; current() finds the
// highest epoch and its record with the claim's revision (the fencing token); only the owner
// updates its claim; the high-water key refuses an epoch below the highest; an etcd that is down,
// silent or not etcd at all is a SharedStorageError naming the endpoints (exit 11 on the command
// line, nothing served), a bad URL or prefix a usage error; an owner in etcd that does not answer
// makes a start refuse (exit 12) until --takeover.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { rm } from 'node:fs/promises';
import { afterAll, describe, expect, it, onTestFinished } from 'vitest';
import { EtcdArbiter } from '../../src/replication/etcd-arbiter.js';
import { EtcdGateway } from '../../src/replication/etcd-gateway.js';
import { NODE_ID } from '../../src/replication/arbitration.js';
import { SharedStorageError } from '../../src/replication/errors.js';
import { UsageError } from '../../src/errors.js';
import { arbiterFor } from '../../src/replication/pair-node.js';
import { assertBuilt, COUNTER, freePort, listenOnLoopback, Proc, tempDir } from './helpers.js';
import { startEtcd } from './etcd-server.js';

const etcd = await startEtcd();
const up = 'url' in etcd ? etcd : undefined;
afterAll(async () => {
  await up?.stop();
});

/** A prefix of its own per test, so tests never see each other's claims. */
const freshPrefix = () => `test-${randomBytes(4).toString('hex')}`;

async function rejection(action: () => Promise<unknown>): Promise<Error> {
  try {
    await action();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

/** A TCP server that accepts connections and never says anything (a hung member). */
async function silentServer(): Promise<{ port: number; close(): void }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
  });
  return listenOnLoopback(server, sockets);
}

/** A TCP proxy to etcd that forwards requests and, once `dropReplies` is set, swallows etcd's answers (applied, never acknowledged). */
async function replyDroppingProxy(port: number): Promise<{ port: number; close(): void; dropReplies: boolean; dropped: number }> {
  const sockets = new Set<net.Socket>();
  const control = { dropReplies: false, dropped: 0 };
  const server = net.createServer((client) => {
    const upstream = net.connect(port, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => (client.destroy(), upstream.destroy()));
    }
    client.pipe(upstream);
    upstream.on('data', (chunk: Buffer) => {
      if (control.dropReplies) control.dropped++;
      else client.write(chunk);
    });
  });
  return Object.assign(control, await listenOnLoopback(server, sockets));
}

describe.skipIf(!up)('the etcd arbiter, on a real etcd', () => {
  const url = up?.url ?? '';

  it('of many claimants racing for one epoch exactly one wins, and each loser learns the owner from its reply', async () => {
    const prefix = freshPrefix();
    for (const epoch of [0, 1, 2]) {
      // One arbiter per claimant, as separate nodes have.
      const outcomes = await Promise.all(Array.from({ length: 12 }, (_, i) => new EtcdArbiter(url, prefix).claimEpoch(epoch, `racer ${i}`, `127.0.0.1:${7000 + i}`)));
      const winners = outcomes.filter((o) => o.result === 'won');
      expect(winners).toHaveLength(1);
      const owner = winners[0].owner!;
      expect(owner.revision).toBeGreaterThan(0);
      for (const loser of outcomes.filter((o) => o.result === 'lost')) {
        expect(loser.owner).toMatchObject({ nodeId: NODE_ID, who: owner.who, logListen: owner.logListen, revision: owner.revision });
        expect(loser.highestEpoch).toBe(epoch);
      }
    }
  });

  it('current() is the highest epoch claimed with its record and token; update() rewrites only the owner\'s own claim', async () => {
    const prefix = freshPrefix();
    const arbiter = new EtcdArbiter(url, prefix);
    expect(await arbiter.current()).toEqual({ epoch: -1, record: undefined });
    // Above 9 and 10: the keys are zero-padded, so etcd's order is the epochs' order.
    for (const epoch of [0, 1, 9, 10]) expect(await arbiter.claim(epoch, `owner of ${epoch}`)).toBe('won');
    const { epoch, record } = await arbiter.current();
    expect(epoch).toBe(10);
    expect(record).toMatchObject({ nodeId: NODE_ID, who: 'owner of 10', pid: process.pid });
    expect(typeof record?.atMs).toBe('number');
    expect(record?.revision).toBeGreaterThan(0);
    expect(arbiter.describe()).toMatchObject({ kind: 'etcd', endpoints: url.replace('etcd://', ''), prefix, wonEpoch: 10, token: record?.revision });

    await arbiter.update(10, { logListen: '127.0.0.1:7123' });
    await arbiter.update(10, { releasedAtMs: 1234 });
    const after = (await arbiter.current()).record;
    expect(after).toMatchObject({ who: 'owner of 10', logListen: '127.0.0.1:7123', releasedAtMs: 1234, revision: record?.revision });

    // Another node's claim (another nodeId): update() leaves it as it is.
    const gateway = new EtcdGateway([url.replace('etcd://', 'http://')]);
    const foreign = JSON.stringify({ nodeId: 'someone-else', who: 'other node', pid: 1, host: 'h', atMs: 1 });
    await gateway.txn([], [{ put: { key: `${prefix}/claims/epoch-000000000011`, value: foreign } }], []);
    await new EtcdArbiter(url, prefix).update(11, { releasedAtMs: 99 });
    expect((await arbiter.current()).record).toMatchObject({ nodeId: 'someone-else', who: 'other node' });
    expect((await arbiter.current()).record?.releasedAtMs).toBeUndefined();
  });

  it('an epoch at or below the highest ever claimed cannot be claimed, even once its claim key is gone (the high-water key)', async () => {
    const prefix = freshPrefix();
    const arbiter = new EtcdArbiter(url, prefix);
    expect(await arbiter.claim(5, 'five')).toBe('won');
    const lower = await new EtcdArbiter(url, prefix).claimEpoch(3, 'three, never claimed');
    expect(lower).toMatchObject({ result: 'lost', owner: undefined, highestEpoch: 5 });
    expect(await arbiter.claim(6, 'six')).toBe('won');
    // With the claim key of 6 gone (deleted by hand here), current() still says 6, owner unknown, and 6 cannot be claimed again.
    const response = await fetch(`${url.replace('etcd://', 'http://')}/v3/kv/deleterange`, {
      method: 'POST',
      body: JSON.stringify({ key: Buffer.from(`${prefix}/claims/epoch-000000000006`).toString('base64') }),
    });
    expect(((await response.json()) as { deleted?: string }).deleted).toBe('1');
    expect(await arbiter.current()).toEqual({ epoch: 6, record: undefined, lapsed: true });
    expect(await new EtcdArbiter(url, prefix).claim(6, 'six again')).toBe('lost');
    expect(await new EtcdArbiter(url, prefix).claim(7, 'seven')).toBe('won');
    expect((await arbiter.current()).record?.who).toBe('seven');
  });

  it('a claim applied by a member whose answer was lost is recognised as won when retried on the next member', async () => {
    const proxy = await replyDroppingProxy(up!.clientPort);
    try {
      const prefix = freshPrefix();
      const arbiter = new EtcdArbiter(`etcd://127.0.0.1:${proxy.port},127.0.0.1:${up!.clientPort}`, prefix, { requestTimeoutMs: 1000 });
      expect(await arbiter.claim(0, 'through the proxy')).toBe('won');
      proxy.dropReplies = true;
      const outcome = await arbiter.claimEpoch(1, 'answer lost, then retried');
      expect(proxy.dropped).toBeGreaterThan(0);
      expect(outcome).toMatchObject({ result: 'won', owner: { who: 'answer lost, then retried' } });
      const { epoch, record } = await new EtcdArbiter(up!.url, prefix).current();
      expect(epoch).toBe(1);
      expect(record).toMatchObject({ who: 'answer lost, then retried', revision: outcome.owner?.revision });
      expect(await new EtcdArbiter(up!.url, prefix).claim(1, 'someone else')).toBe('lost');
    } finally {
      proxy.close();
    }
  });

  it('lockstep primary refuses an epoch whose owner in etcd does not answer (exit 12, naming etcd), and --takeover claims the next', { timeout: 60_000 }, async () => {
    assertBuilt();
    const prefix = freshPrefix();
    const dead = await freePort();
    expect(await new EtcdArbiter(url, prefix).claim(0, 'a ghost', `127.0.0.1:${dead}`)).toBe('won');
    const dir = await tempDir('etcd-owned');
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    const args = ['primary', COUNTER, '--port', String(await freePort()), '--log-listen', `127.0.0.1:${await freePort()}`, '--dir', dir, '--arbiter', url, '--arbiter-prefix', prefix];
    const refused = new Proc('refused', args);
    expect((await refused.waitExit(30_000)).code, refused.stderr).toBe(12);
    expect(refused.stderr).toContain(`Epoch 0 of etcd ${url.replace('etcd://', '')} (prefix ${prefix}) is owned by a ghost`);
    const takeover = new Proc('takeover', [...args, '--takeover']);
    try {
      await takeover.waitFor(/serving .* epoch 1/, 30_000);
      expect((await new EtcdArbiter(url, prefix).current()).record?.who).toBe(`primary pid ${takeover.pid}`);
    } finally {
      await takeover.kill();
    }
  });

  it('a member that does not answer is skipped for the next endpoint', async () => {
    const silent = await silentServer();
    try {
      const arbiter = new EtcdArbiter(`etcd://127.0.0.1:${silent.port},127.0.0.1:${up!.clientPort}`, freshPrefix(), { requestTimeoutMs: 500 });
      expect(await arbiter.claim(0, 'through the second endpoint')).toBe('won');
      expect((await arbiter.current()).epoch).toBe(0);
    } finally {
      silent.close();
    }
  });
});

describe('the etcd arbiter, when etcd cannot be reached', () => {
  it('nothing listening: a SharedStorageError naming every endpoint', async () => {
    const [a, b] = [await freePort(), await freePort()];
    const error = await rejection(() => new EtcdArbiter(`etcd://127.0.0.1:${a},127.0.0.1:${b}`).current());
    expect(error).toBeInstanceOf(SharedStorageError);
    expect((error as SharedStorageError).exitCode).toBe(11);
    expect(error.message).toContain(`127.0.0.1:${a}`);
    expect(error.message).toContain(`127.0.0.1:${b}`);
    expect(error.message).toMatch(/ECONNREFUSED/);
  });

  it('a member that accepts and never answers: a timeout, not a hang', async () => {
    const silent = await silentServer();
    try {
      const error = await rejection(() => new EtcdArbiter(`etcd://127.0.0.1:${silent.port}`, 'lockstep', { requestTimeoutMs: 300, retryWindowMs: 0 }).claim(0, 'x'));
      expect(error).toBeInstanceOf(SharedStorageError);
      expect(error.message).toMatch(/no answer within 300 ms/);
    } finally {
      silent.close();
    }
  });

  it('something that is not etcd on that port: a SharedStorageError', async () => {
    const server = http.createServer((_, res) => res.writeHead(404).end('Not Found'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    try {
      const port = (server.address() as net.AddressInfo).port;
      const error = await rejection(() => new EtcdArbiter(`etcd://127.0.0.1:${port}`).current());
      expect(error).toBeInstanceOf(SharedStorageError);
      expect(error.message).toMatch(/HTTP 404, not an etcd v3 JSON answer/);
    } finally {
      server.close();
    }
  });

  it('a bad URL or prefix is a usage error', () => {
    for (const bad of ['http://127.0.0.1:2379', 'etcd://', 'etcd://host', 'etcd://127.0.0.1:99999', 'etcd://a:1,,b:2']) {
      expect(() => arbiterFor({ dir: '/tmp', arbiter: bad }), bad).toThrow(UsageError);
    }
    for (const bad of ['', '/lockstep', 'lockstep/', 'a b', 'a//b']) {
      expect(() => arbiterFor({ dir: '/tmp', arbiter: 'etcd://127.0.0.1:2379', arbiterPrefix: bad }), bad).toThrow(UsageError);
    }
    expect(arbiterFor({ dir: '/tmp', arbiter: 'etcd://127.0.0.1:2379,[::1]:2379', arbiterPrefix: 'shop/orders' }).describe()).toMatchObject({ kind: 'etcd', endpoints: '127.0.0.1:2379,[::1]:2379', prefix: 'shop/orders' });
  });

  it('lockstep primary and secondary with an unreachable etcd exit 11 naming it, serving nothing', { timeout: 60_000 }, async () => {
    assertBuilt();
    const dir = await tempDir('etcd-down');
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    const dead = await freePort();
    const port = await freePort();
    const common = ['--port', String(port), '--dir', dir, '--arbiter', `etcd://127.0.0.1:${dead}`];
    for (const args of [
      ['primary', COUNTER, ...common, '--log-listen', `127.0.0.1:${await freePort()}`],
      ['secondary', COUNTER, ...common, '--primary', `ws://127.0.0.1:${await freePort()}`],
    ]) {
      const proc = new Proc(args[0], args);
      const exit = await proc.waitExit(30_000);
      expect(exit.code, proc.stderr).toBe(11);
      expect(proc.stderr).toMatch(new RegExp(`etcd cannot be reached at http://127.0.0.1:${dead}.*LOCKSTEP_SHARED_STORAGE`));
      expect(proc.stderr).not.toMatch(/serving|secondary of/);
    }
    for (const [args, message] of [
      [['--arbiter', 'etcd://nowhere'], /is not HOST:PORT/],
      [['--arbiter-prefix', 'x'], /--arbiter-prefix names keys in etcd/],
    ] as const) {
      const proc = new Proc('bad-usage', ['primary', COUNTER, '--port', String(port), '--dir', dir, ...args]);
      expect((await proc.waitExit(30_000)).code).toBe(2);
      expect(proc.stderr).toMatch(message);
    }
  });
});
