// README's partition table, the etcd rows, under keyed load on two hosts with a 3-member etcd (one
// member per network namespace):
// - etcd quorum lost (two members killed): the pair serves while paired, no epoch changes, and
//   both nodes say in status (arbiter.reachable false) and in their logs that no failover is possible;
// - etcd leader change (the leader SIGKILLed): nothing visible to clients or to the pair.
// The killed members are restarted on their own data afterwards.
import { describe, expect, it } from 'vitest';
import { arbiterOf, highestEpoch, runScenario } from './scenario.js';
import { testbedOrSkip } from './hosts-setup.js';
import { sleep, waitUntil } from '../replication/helpers.js';

const testbed = await testbedOrSkip();
/** No failover is expected: a timeout well above a loaded machine's stalls keeps the rows honest. */
const PATIENT = { heartbeatMs: 50, failureTimeoutMs: 2000 };
const HOLD_MS = 4000;

describe.skipIf(!testbed)('etcd faults under a pair on two hosts', () => {
  it('etcd quorum lost: the pair serves while paired, and status and logs say no failover is possible', { timeout: 120_000 }, async () => {
    const result = await runScenario(testbed!, PATIENT, async (s) => {
      const killed = await s.testbed.etcd.killMembers(2);
      expect(killed).toHaveLength(2);
      const from = s.now();
      // A keepalive goes every third of the lease: the first that fails turns status and logs.
      await waitUntil(async () => (await Promise.all([s.primary, s.secondary].map(arbiterOf))).every((a) => a?.reachable === false), 30_000, 'both nodes report etcd unreachable');
      await sleep(HOLD_MS);
      const during = s.answersBetween(from, s.now());
      expect(during.length, 'answers while etcd had no quorum').toBeGreaterThan(0);
      expect(s.sample(s.primary)).toMatchObject({ role: 'primary', epoch: 0, protection: 'protected' });
      for (const node of [s.primary, s.secondary]) expect(node.record.outputTail).toMatch(/etcd does not answer .*no failover is possible until it does/);
      await s.testbed.etcd.restartDead();
      await waitUntil(async () => (await arbiterOf(s.primary))?.reachable === true, 30_000, 'the primary reports etcd reachable again');
    });
    expect(result.violations).toEqual([]);
    expect(highestEpoch(result.samples)).toBe(0);
  });

  it('etcd leader killed: nothing visible', { timeout: 120_000 }, async () => {
    const result = await runScenario(testbed!, PATIENT, async (s) => {
      const leader = await s.testbed.etcd.killLeader();
      const from = s.now();
      await sleep(HOLD_MS);
      expect(s.answersBetween(from, s.now()).length, `answers after etcd's leader ${leader} was killed`).toBeGreaterThan(0);
      await s.testbed.etcd.restartDead();
      expect(s.sample(s.primary)).toMatchObject({ role: 'primary', epoch: 0, protection: 'protected' });
    });
    expect(result.violations).toEqual([]);
    expect(highestEpoch(result.samples)).toBe(0);
  });
});
