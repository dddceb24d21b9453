// README's partition table, the network rows, each under keyed load on two hosts (network
// namespaces, nftables cuts) with a 3-member etcd as the arbiter:
// - primary↔secondary cut, both reach etcd: one side claims the next epoch and goes on, the other
//   releases nothing more and rejoins it after the cut heals;
// - primary↔etcd cut while paired: the pair keeps serving, no epoch changes, status says etcd is unreachable;
// - secondary↔etcd cut: no false claim (and its status says etcd is unreachable).
// The chaos checkers judge every history: no acknowledged answer lost, never two nodes releasing.
import { describe, expect, it } from 'vitest';
import { arbiterOf, highestEpoch, runScenario, waitProtected, type Scene } from './scenario.js';
import { testbedOrSkip } from './hosts-setup.js';
import { sleep, waitUntil } from '../replication/helpers.js';

const testbed = await testbedOrSkip();
/** The etcd rows expect no failover: a timeout well above a loaded machine's stalls keeps them honest. */
const PATIENT = { heartbeatMs: 50, failureTimeoutMs: 2000 };
const CUT_MS = 3000;

/** Holds an etcd cut of `side`'s host under load; the pair must answer throughout. */
async function etcdCut(s: Scene, side: 'primary' | 'secondary'): Promise<void> {
  const node = s[side];
  await s.testbed.cutFromEtcd(side === 'primary' ? 'a' : 'b');
  const from = s.now();
  // Its next keepalive fails (one goes every third of the lease): status says so.
  await waitUntil(async () => (await arbiterOf(node))?.reachable === false, 30_000, `${node.record.id} reports etcd unreachable`);
  await sleep(CUT_MS);
  const during = s.answersBetween(from, s.now());
  await s.testbed.heal();
  expect(during.length, `answers while ${node.record.id}'s host was cut from etcd`).toBeGreaterThan(0);
  expect(new Set(during.map((a) => a.node))).toEqual(new Set([s.primary.record.id]));
  expect(s.sample(s.primary)).toMatchObject({ role: 'primary', epoch: 0, protection: 'protected' });
}

describe.skipIf(!testbed)('the partition table on two hosts with etcd', () => {
  it('primary↔secondary cut (both reach etcd): one side goes on, the other releases nothing more and rejoins after healing', { timeout: 120_000 }, async () => {
    let winner = '';
    const result = await runScenario(testbed!, { heartbeatMs: 50, failureTimeoutMs: 1000 }, async (s) => {
      await s.testbed.cutNodes('a', 'b', 'both');
      await s.waitFor('a new epoch claimed', () => [s.primary, s.secondary].some((n) => (s.sample(n)?.epoch ?? 0) >= 1 && s.sample(n)?.role === 'primary'));
      await sleep(1000);
      await s.testbed.heal();
      const pair = await waitProtected(s, 'the loser rejoined the winner after the cut healed');
      // The same two processes: the loser followed the winner by itself.
      expect(new Set([pair.primary, pair.secondary])).toEqual(new Set([s.primary, s.secondary]));
      winner = pair.primary === s.secondary ? 'the secondary' : 'the primary';
    });
    console.log(`primary↔secondary cut: ${winner} won the next epoch`);
    expect(result.violations).toEqual([]);
    expect(highestEpoch(result.samples)).toBeGreaterThanOrEqual(1);
  });

  it('primary↔etcd cut while paired: the pair keeps serving', { timeout: 120_000 }, async () => {
    const result = await runScenario(testbed!, PATIENT, (s) => etcdCut(s, 'primary'));
    expect(result.violations).toEqual([]);
    expect(highestEpoch(result.samples)).toBe(0);
  });

  it('secondary↔etcd cut: no false claim', { timeout: 120_000 }, async () => {
    const result = await runScenario(testbed!, PATIENT, (s) => etcdCut(s, 'secondary'));
    expect(result.violations).toEqual([]);
    expect(highestEpoch(result.samples)).toBe(0);
    const claims = result.nodes.flatMap((n) => n.record.notable.filter((x) => /claiming epoch|won epoch|LIVE as primary/.test(x.line)));
    expect(claims).toEqual([]);
  });
});
