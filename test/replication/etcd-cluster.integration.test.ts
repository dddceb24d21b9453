// The etcd arbiter on a real 3-member etcd cluster: a claim made right after the leader is
// SIGKILLed still gets its answer (the request rides out the election, going on to the live
// members), and with the quorum lost a claim fails in bounded time with a SharedStorageError
// naming every endpoint (the node that made it would stop: exit 11), never a hang, never a win.
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { EtcdArbiter } from '../../src/replication/etcd-arbiter.js';
import { SharedStorageError } from '../../src/replication/errors.js';
import { startEtcdCluster } from './etcd-server.js';
import { sleep } from './helpers.js';

const cluster = await startEtcdCluster(3);
const up = 'url' in cluster ? cluster : undefined;
afterAll(async () => {
  await up?.stop();
});

describe.skipIf(!up)('the etcd arbiter on a 3-member cluster', () => {
  it('claims through a leader kill, and fails in bounded time once the quorum is lost', { timeout: 120_000 }, async () => {
    const prefix = `cluster-${randomBytes(4).toString('hex')}`;
    // A window long enough for an election on a busy machine: this tests that requests ride it out,
    // not how long elections take here (the default window is shorter, and a claim is bounded anyway).
    const arbiter = new EtcdArbiter(up!.url, prefix, { retryWindowMs: 20_000 });
    expect(await arbiter.claim(0, 'before the leader dies')).toBe('won');

    let leader = await up!.leader();
    for (let i = 0; !leader && i < 50; i++) leader = await sleep(200).then(() => up!.leader()); // a busy machine answers slowly
    expect(leader, 'a leader').toBeDefined();
    await leader!.kill();
    const killedMs = Date.now();
    const outcome = await arbiter.claim(1, 'right after the leader died').catch((error: Error) => `${error.message} after ${Date.now() - killedMs} ms`);
    expect(outcome, `the claim right after the leader kill (${Date.now() - killedMs} ms)`).toBe('won');
    console.log(`claim right after the leader kill: won in ${Date.now() - killedMs} ms`);
    expect(await new EtcdArbiter(up!.url, prefix).claim(1, 'a rival')).toBe('lost');
    expect(await arbiter.current()).toMatchObject({ epoch: 1, record: { who: 'right after the leader died' } });

    // One member of three left: no quorum, so nothing can be decided, and the arbiter says so.
    await up!.members.find((m) => m.alive)!.kill();
    const startedMs = Date.now();
    let failure: unknown;
    try {
      await new EtcdArbiter(up!.url, prefix).claim(2, 'without a quorum');
    } catch (error) {
      failure = error;
    }
    expect(failure).toBeInstanceOf(SharedStorageError);
    for (const member of up!.members) expect((failure as Error).message).toContain(`127.0.0.1:${member.clientPort}`);
    // Bounded: the default retry window (4 s) plus at most one round of request timeouts; generous for a busy machine.
    expect(Date.now() - startedMs).toBeLessThan(30_000);
  });
});
