// Where the chaos lineage's nodes run on a testbed: the first primary on host a, every fresh
// secondary on the host its primary is not on (as on two machines), each node with ports and a
// --dir of its own (a fenced node rejoining may share a host with a fresh one), the pair's one
// secret file given to all. The harness reaches each node
// through the testbed's gateway.
import { join } from 'node:path';
import type { NodePlacement, PlacedNode } from '../chaos/lineage.js';
import { writeNewSecretFile } from '../channel/secret.js';
import { hostNodeArgs } from './node-args.js';
import { NODE_HOSTS, type NodeHostName, type Testbed } from './testbed.js';

/** Node n serves on SERVICE_PORT_BASE + n and logs on LOG_PORT_BASE + n, inside its host. */
const SERVICE_PORT_BASE = 8000;
const LOG_PORT_BASE = 7000;

export interface HostPlacementOptions {
  program: string;
  /** The pair's own directory (the nodes' --dir are in it) and its own key prefix in etcd. */
  pairDir: string;
  arbiterPrefix: string;
  /** Flags every node gets (timing, checkpoints). */
  common: string[];
  /** Flags only a node started as primary gets. */
  primaryExtra: string[];
}

export class HostPlacement implements NodePlacement {
  private placed = 0;
  private secret: Promise<string> | undefined;

  constructor(
    private readonly testbed: Testbed,
    private readonly o: HostPlacementOptions,
  ) {}

  async place(startedAs: 'primary' | 'secondary', primaryLogListen?: string): Promise<PlacedNode> {
    const hostName = startedAs === 'primary' ? 'a' : this.otherThan(primaryLogListen!);
    const host = this.testbed.host(hostName);
    const n = ++this.placed;
    const args = hostNodeArgs({
      startedAs,
      nodeName: `node${n}-${hostName}`,
      program: this.o.program,
      host,
      port: SERVICE_PORT_BASE + n,
      logPort: LOG_PORT_BASE + n,
      primaryLogListen,
      arbiterUrl: this.testbed.etcd.url,
      arbiterPrefix: this.o.arbiterPrefix,
      pairDir: this.o.pairDir,
      secretFile: await this.secretFile(),
      flags: [...this.o.common, ...(startedAs === 'primary' ? this.o.primaryExtra : [])],
    });
    return { args, netns: host.ns, url: await this.testbed.gateway.url(host.address, SERVICE_PORT_BASE + n) };
  }

  /** The pair's secret file, made once (as an operator would with `lockstep secret --out`). */
  private secretFile(): Promise<string> {
    const path = join(this.o.pairDir, 'pair.secret');
    this.secret ??= writeNewSecretFile(path).then(() => path);
    return this.secret;
  }

  /** The node host a node runs on, from its namespace. */
  hostOf(netns: string | undefined): NodeHostName {
    const name = NODE_HOSTS.find((h) => this.testbed.host(h).ns === netns);
    if (!name) throw new Error(`namespace ${netns} is not a node host of this testbed`);
    return name;
  }

  private otherThan(logListen: string): NodeHostName {
    const primaryHost = this.testbed.hostAt(logListen.replace(/:\d+$/, ''));
    return primaryHost === 'a' ? 'b' : 'a';
  }
}
