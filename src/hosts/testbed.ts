// Two hosts and an etcd cluster on network namespaces: hosts `a` and `b` for the nodes, three etcd
// members each on a host of its own, and a client host whose gateway lets the harness reach them.
// Partitions are firewall rules on the node hosts. Everything is removed by destroy(), on process
// exit, and by the next testbed if this process dies first (its namespaces carry its pid).
import { rmSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { basename } from 'node:path';
import { EtcdCluster } from './etcd-cluster.js';
import { Firewall, type CutDirection } from './firewall.js';
import { Gateway } from './gateway.js';
import { HostNetwork, type Host } from './network.js';
import { newRunTag, runDirOf, type RunTag } from './names.js';
import { requireHostsSupport } from './shell.js';
import { sweepCrashedRuns, sweepRunSync } from './sweep.js';

export type NodeHostName = 'a' | 'b';
export const NODE_HOSTS: readonly NodeHostName[] = ['a', 'b'];
const ETCD_HOSTS = ['etcd1', 'etcd2', 'etcd3'];
/** Last octet of each host's address in the testbed's /24. */
const ADDRESSES: Record<string, number> = { a: 1, b: 2, etcd1: 11, etcd2: 12, etcd3: 13, client: 100 };

export class Testbed {
  private readonly firewalls: Map<NodeHostName, Firewall>;
  private readonly onExit = () => {
    sweepRunSync(this.network.namespaces());
    rmSync(this.runDir, { recursive: true, force: true });
  };
  private destroyed = false;

  private constructor(
    readonly tag: RunTag,
    readonly runDir: string,
    readonly network: HostNetwork,
    readonly gateway: Gateway,
    readonly etcd: EtcdCluster,
  ) {
    this.firewalls = new Map(NODE_HOSTS.map((name) => [name, new Firewall(network.host(name))]));
    process.once('exit', this.onExit);
  }

  /** Builds the whole testbed, or throws (HostsUnavailableError without root or tools) leaving nothing behind. */
  static async create(): Promise<Testbed> {
    await requireHostsSupport('The two-host testbed');
    await sweepCrashedRuns();
    const tag = newRunTag();
    const runDir = runDirOf(tag);
    await mkdir(runDir, { recursive: true });
    let network: HostNetwork | undefined;
    let gateway: Gateway | undefined;
    try {
      network = await HostNetwork.create(tag, ADDRESSES);
      gateway = await Gateway.start(network.host('client').ns, runDir);
      const etcd = await EtcdCluster.start(ETCD_HOSTS.map((h) => network!.host(h)), `${runDir}/etcd`, basename(runDir), gateway);
      return new Testbed(tag, runDir, network, gateway, etcd);
    } catch (error) {
      await gateway?.close();
      await network?.destroy();
      await rm(runDir, { recursive: true, force: true });
      throw error;
    }
  }

  host(name: NodeHostName): Host {
    return this.network.host(name);
  }

  /** The node host whose address is `address`, if any. */
  hostAt(address: string): NodeHostName | undefined {
    return NODE_HOSTS.find((name) => this.host(name).address === address);
  }

  /** Drops packets between node hosts `from` and `to`: both ways, or only what `from` sends. */
  async cutNodes(from: NodeHostName, to: NodeHostName, direction: CutDirection): Promise<void> {
    await this.firewalls.get(from)!.cut([this.host(to)], direction);
  }

  /** Cuts node host `name` off from every etcd member, both ways. */
  async cutFromEtcd(name: NodeHostName): Promise<void> {
    await this.firewalls.get(name)!.cut(this.etcd.hosts, 'both');
  }

  /** Removes every cut. */
  async heal(): Promise<void> {
    for (const firewall of this.firewalls.values()) await firewall.heal();
  }

  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    process.removeListener('exit', this.onExit);
    await this.gateway.close();
    await this.etcd.stop();
    await this.network.destroy();
    await rm(this.runDir, { recursive: true, force: true });
  }
}
