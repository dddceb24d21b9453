// The testbed's network: one namespace per host, each joined by a veth pair to a bridge that lives
// in a namespace of its own, addresses from a private /24 that exist only inside the namespaces
// (the machine's own interfaces and routes are never touched).
import { ip } from './shell.js';
import { namespaceName, type RunTag } from './names.js';
import { deleteNamespace } from './sweep.js';

/** The /24 every testbed uses; each testbed's bridge is its own, so runs do not see each other. */
export const SUBNET = '10.232.0';
const BRIDGE = 'br0';
/** The interface a host sees; names are per namespace, so every host's can be the same. */
const HOST_IF = 'eth0';

export interface Host {
  name: string;
  ns: string;
  address: string;
}

export class HostNetwork {
  private constructor(
    readonly hosts: ReadonlyMap<string, Host>,
    private readonly bridgeNs: string,
  ) {}

  /** Makes the bridge and one namespace per entry of `addresses` (host name to last octet). */
  static async create(tag: RunTag, addresses: Record<string, number>): Promise<HostNetwork> {
    const bridgeNs = namespaceName(tag, 'br');
    const hosts = new Map<string, Host>();
    for (const [name, octet] of Object.entries(addresses)) hosts.set(name, { name, ns: namespaceName(tag, name), address: `${SUBNET}.${octet}` });
    const network = new HostNetwork(hosts, bridgeNs);
    try {
      await ip('netns', 'add', bridgeNs);
      await ip('-n', bridgeNs, 'link', 'add', BRIDGE, 'type', 'bridge');
      await ip('-n', bridgeNs, 'link', 'set', BRIDGE, 'up');
      let port = 0;
      for (const host of hosts.values()) await network.attach(host, `p${port++}`);
    } catch (error) {
      await network.destroy();
      throw error;
    }
    return network;
  }

  /** A namespace for `host`, its veth end inside it, the other end on the bridge. */
  private async attach(host: Host, bridgePort: string): Promise<void> {
    await ip('netns', 'add', host.ns);
    await ip('link', 'add', 'name', HOST_IF, 'netns', host.ns, 'type', 'veth', 'peer', 'name', bridgePort, 'netns', this.bridgeNs);
    await ip('-n', this.bridgeNs, 'link', 'set', bridgePort, 'master', BRIDGE, 'up');
    await ip('-n', host.ns, 'addr', 'add', `${host.address}/24`, 'dev', HOST_IF);
    await ip('-n', host.ns, 'link', 'set', HOST_IF, 'up');
    await ip('-n', host.ns, 'link', 'set', 'lo', 'up');
  }

  /** Every namespace it made, the bridge's included. */
  namespaces(): string[] {
    return [...[...this.hosts.values()].map((h) => h.ns), this.bridgeNs];
  }

  host(name: string): Host {
    const host = this.hosts.get(name);
    if (!host) throw new Error(`no host '${name}' in this testbed (hosts: ${[...this.hosts.keys()].join(', ')})`);
    return host;
  }

  /** Deletes every namespace (their processes are SIGKILLed, their veth pairs go with them). */
  async destroy(): Promise<void> {
    for (const host of this.hosts.values()) await deleteNamespace(host.ns);
    await deleteNamespace(this.bridgeNs);
  }
}
