// The chaos engine's host faults on a testbed: cuts between the hosts its nodes run on, cuts
// between a node's host and etcd, etcd leader kills, and healing them.
import type { HostFaults } from '../chaos/faults.js';
import type { ChaosNode } from '../chaos/lineage.js';
import type { HostPlacement } from './placement.js';
import type { Testbed } from './testbed.js';

/** A restarted etcd member must be back within this long. */
const ETCD_RESTART_MS_MAX = 30_000;

export function testbedFaults(testbed: Testbed, placement: HostPlacement): HostFaults {
  return {
    async cutNodes(from: ChaosNode, to: ChaosNode, direction) {
      const [a, b] = [placement.hostOf(from.netns), placement.hostOf(to.netns)];
      if (a === b) return false;
      await testbed.cutNodes(a, b, direction);
      return true;
    },
    cutFromEtcd: (node) => testbed.cutFromEtcd(placement.hostOf(node.netns)),
    heal: () => testbed.heal(),
    killEtcdLeader: () => testbed.etcd.killLeader(),
    restartEtcd: () => testbed.etcd.restartDead(ETCD_RESTART_MS_MAX),
  };
}
