// README's partition table, the etcd rows, under keyed load on two hosts with a 3-member etcd (one
// member per network namespace):
// - etcd quorum lost (two members killed): the pair serves while paired, no epoch changes;
// - etcd leader change (the leader SIGKILLed): nothing visible to clients or to the pair.
// The killed members are restarted on their own data afterwards.
import { describe, expect, it } from 'vitest';
import { highestEpoch, runScenario } from './scenario.js';
import { testbedOrSkip } from './hosts-setup.js';
import { sleep } from '../replication/helpers.js';

const testbed = await testbedOrSkip();
/** No failover is expected: a timeout well above a loaded machine's stalls keeps the rows honest. */
const PATIENT = { heartbeatMs: 50, failureTimeoutMs: 2000 };
const HOLD_MS = 4000;

describe.skipIf(!testbed)('etcd faults under a pair on two hosts', () => {
  it('etcd quorum lost: the pair serves while paired', { timeout: 120_000 }, async () => {
    const result = await runScenario(testbed!, PATIENT, async (s) => {
      const killed = await s.testbed.etcd.killMembers(2);
      expect(killed).toHaveLength(2);
      const from = s.now();
      await sleep(HOLD_MS);
      const during = s.answersBetween(from, s.now());
      expect(during.length, 'answers while etcd had no quorum').toBeGreaterThan(0);
      expect(s.sample(s.primary)).toMatchObject({ role: 'primary', epoch: 0, protection: 'protected' });
      await s.testbed.etcd.restartDead();
    });
    expect(result.violations).toEqual([]);
    expect(highestEpoch(result.samples)).toBe(0);
  });

  it.todo('etcd quorum lost: status and logs say that no failover is possible (needs the arbiter reachability in status)');

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
