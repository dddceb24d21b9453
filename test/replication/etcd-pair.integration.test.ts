// A real pair (`lockstep primary` and `lockstep secondary` processes) arbitrated by a real etcd
// (--arbiter etcd://...): the primary is SIGKILLed under a stream of keyed increments, the
// secondary wins epoch 1 in etcd and goes live with nothing lost and no answer given twice, and
// the primary restarted with its original command finds the survivor through etcd and joins it
// as its secondary; a primary whose secondary is killed wins the next epoch in etcd and goes on.
// These nodes share one --dir (no claim file is written there: epochs live in etcd); two nodes
// with nothing shared on disk are own-disk.integration.test.ts.
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { EtcdArbiter } from '../../src/replication/etcd-arbiter.js';
import { claimFiles, count, increment, Proc, sleep, startPrimary, startSecondary, status, testResources, waitUntil, type StartedNode } from './helpers.js';
import { startEtcd } from './etcd-server.js';

const etcd = await startEtcd();
const up = 'url' in etcd ? etcd : undefined;
afterAll(async () => {
  await up?.stop();
});
const { dirFor, track } = testResources();

const TIMING = { heartbeatMs: 50, failureTimeoutMs: 1000 };
const KEYS = 120;
const KILL_AFTER_ANSWERS = 40;

/** Sends `key` until one node answers 200 (a failover-aware client): the primary first, then the other. */
async function incrementSomewhere(key: string, nodes: StartedNode[], deadlineMs: number): Promise<number> {
  for (let attempt = 0; Date.now() < deadlineMs; attempt++) {
    const node = nodes[attempt % nodes.length];
    try {
      const answer = await increment(node.url, key, 3000);
      if (answer.status === 200) return (JSON.parse(answer.body) as { count: number }).count;
    } catch {
      /* the node is dead or not live yet: try the other */
    }
    await sleep(20);
  }
  throw new Error(`no node answered ${key} in time`);
}

/** A primary and a secondary on a prefix of their own in etcd (sharing a fresh --dir), once the primary is protected. */
async function protectedPair(name: string) {
  const dir = await dirFor(name);
  const prefix = `pair-${randomBytes(4).toString('hex')}`;
  const arbiterArgs = ['--arbiter', up!.url, '--arbiter-prefix', prefix];
  const primary = track(await startPrimary({ ...TIMING, dir, extra: arbiterArgs }));
  const secondary = track(await startSecondary({ ...TIMING, dir, extra: arbiterArgs, primaryUrl: `ws://127.0.0.1:${primary.logPort}` }));
  await waitUntil(async () => (await status(primary.url))?.protection === 'protected', 30_000, 'primary protected');
  return { dir, prefix, arbiterArgs, primary, secondary };
}

describe.skipIf(!up)('a pair arbitrated by etcd', () => {
  it('survives a SIGKILL of the primary with nothing lost, and the restarted primary rejoins through etcd', { timeout: 120_000 }, async () => {
    const { dir, prefix, primary, secondary } = await protectedPair('etcd-pair');
    const arbiter = new EtcdArbiter(up!.url, prefix);
    const first = await arbiter.current();
    expect(first).toMatchObject({ epoch: 0, record: { who: `primary pid ${primary.proc.pid}`, logListen: `127.0.0.1:${primary.logPort}` } });
    expect((await status(primary.url))?.arbiter).toMatchObject({ kind: 'etcd', prefix, wonEpoch: 0, token: first.record?.revision });

    const answers = new Map<string, number>();
    const deadline = Date.now() + 60_000;
    let killed = false;
    for (let i = 0; i < KEYS; i++) {
      if (answers.size === KILL_AFTER_ANSWERS && !killed) {
        // Kill with a request in flight: its answer must come from the survivor, counted once.
        const inFlight = incrementSomewhere(`k-${i}`, [primary, secondary], deadline);
        await primary.proc.kill();
        killed = true;
        answers.set(`k-${i}`, await inFlight);
        continue;
      }
      answers.set(`k-${i}`, await incrementSomewhere(`k-${i}`, killed ? [secondary] : [primary, secondary], deadline));
    }
    expect(killed).toBe(true);
    const survivor = await status(secondary.url);
    expect(survivor).toMatchObject({ role: 'primary', epoch: 1 });
    // Nothing lost, nothing counted twice: every key got its own count, and the survivor holds them all.
    expect(new Set(answers.values()).size).toBe(KEYS);
    expect(Math.max(...answers.values())).toBe(KEYS);
    expect(await count(secondary.url)).toBe(KEYS);

    const second = await arbiter.current();
    expect(second.epoch).toBe(1);
    expect(second.record?.who).toBe(`secondary pid ${secondary.proc.pid}`);
    expect(second.record?.revision).toBeGreaterThan(first.record!.revision!);
    await waitUntil(async () => (await arbiter.current()).record?.logListen === `127.0.0.1:${secondary.logPort}`, 10_000, 'survivor records its logging channel in etcd');
    expect(await claimFiles(dir)).toEqual([]);

    // What a supervisor does: the very same command. It must find the live owner in etcd and follow it.
    const restarted = track({ ...primary, proc: new Proc('restarted-primary', primary.proc.args) });
    await restarted.proc.waitFor(/joining it as its secondary/, 30_000);
    await waitUntil(async () => (await status(secondary.url))?.protection === 'protected', 30_000, 'survivor protected by the restarted node');
    expect((await status(restarted.url))?.role).toBe('secondary');
    expect((await arbiter.current()).epoch).toBe(1);
    const after = await increment(secondary.url, 'after-restart');
    expect(after.status).toBe(200);
    expect(JSON.parse(after.body)).toEqual({ count: KEYS + 1 });
  });

  it('a primary whose secondary is SIGKILLed wins the next epoch in etcd and goes on; a new secondary protects it again', { timeout: 120_000 }, async () => {
    const { dir, prefix, arbiterArgs, primary, secondary } = await protectedPair('etcd-pair-secondary-killed');
    expect((await increment(primary.url, 'before')).status).toBe(200);
    await secondary.proc.kill();
    await primary.proc.waitFor(/won epoch 1/, 30_000);
    const arbiter = new EtcdArbiter(up!.url, prefix);
    expect(await arbiter.current()).toMatchObject({ epoch: 1, record: { who: `primary pid ${primary.proc.pid}` } });
    expect((await increment(primary.url, 'alone')).status).toBe(200);
    track(await startSecondary({ ...TIMING, dir, extra: arbiterArgs, primaryUrl: `ws://127.0.0.1:${primary.logPort}`, name: 'second-secondary' }));
    await waitUntil(async () => (await status(primary.url))?.protection === 'protected', 30_000, 'protected again');
    expect((await status(primary.url))?.arbiter).toMatchObject({ kind: 'etcd', wonEpoch: 1 });
    expect(await count(primary.url)).toBe(2);
  });
});
