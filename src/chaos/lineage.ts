// The processes of a chaos run: real `lockstep primary`/`lockstep secondary` processes on loopback
// sharing one --dir, each secondary reaching its primary's logging port through its own
// fault-injecting proxy (or, with a placement, on the hosts of a namespace testbed). Like a supervisor, it can restart a node with its original command line
// and start a fresh secondary against a survivor. It never looks inside a node.
import { spawn, type ChildProcess } from 'node:child_process';
import { freePort, LOCKSTEP_BIN } from '../demo/processes.js';
import type { NodeRecord } from './history.js';
import { LinkProxy } from './link-proxy.js';

/** Output kept per node for the report (the notable lines are all kept). */
export const OUTPUT_TAIL_CHARS = 20_000;
/** A node must print its "serving"/"secondary of" line within this long of being spawned. */
export const NODE_START_TIMEOUT_MS = 20_000;
const NOTABLE = /DIVERGED|FENCED|LIVE as primary|claiming epoch|won epoch|lost the claim|rejoining the owner|refus|cannot|Error|error:/;

export interface ChaosNode {
  record: NodeRecord;
  child: ChildProcess;
  /** The proxy this secondary reaches its primary through. */
  proxy?: LinkProxy;
  /** The network namespace it runs in (a testbed host), if any. */
  netns?: string;
  readonly alive: boolean;
}

export interface LineageOptions {
  program: string;
  dir: string;
  /** Flags every node gets (timing). */
  common: string[];
  /** Flags only `lockstep primary` gets (e.g. --no-output-gate, to check the checkers). */
  primaryExtra: string[];
  /** The delay each new secondary's logging link adds per direction (0: loopback as it is); drawn per link. */
  linkDelayMs?: () => number;
  now(): number;
  /** Nodes on testbed hosts instead of loopback (lockstep chaos --hosts); no link proxies then. */
  placement?: NodePlacement;
}

/** Decides a new node's command line (after the bin), its namespace and the URL the harness reaches it at. */
export interface NodePlacement {
  place(startedAs: 'primary' | 'secondary', primaryLogListen?: string): Promise<PlacedNode>;
}

export interface PlacedNode {
  args: string[];
  netns: string;
  url: string;
}

const loopbackUrl = (port: number) => `http://127.0.0.1:${port}`;

export class Lineage {
  readonly nodes: ChaosNode[] = [];
  private readonly proxies: LinkProxy[] = [];
  private nextId = 1;

  constructor(private readonly o: LineageOptions) {}

  live(): ChaosNode[] {
    return this.nodes.filter((n) => n.alive);
  }

  byId(id: string): ChaosNode | undefined {
    return this.nodes.find((n) => n.record.id === id);
  }

  async startPrimary(): Promise<ChaosNode> {
    if (this.o.placement) return this.spawnPlaced('primary');
    const [port, logPort] = [await freePort(), await freePort()];
    const args = ['primary', this.o.program, '--port', String(port), '--log-listen', `127.0.0.1:${logPort}`, '--dir', this.o.dir, ...this.o.common, ...this.o.primaryExtra];
    return this.spawn('primary', args, loopbackUrl(port));
  }

  private async spawnPlaced(startedAs: 'primary' | 'secondary', primaryLogListen?: string): Promise<ChaosNode> {
    const placed = await this.o.placement!.place(startedAs, primaryLogListen);
    return this.spawn(startedAs, placed.args, placed.url, undefined, placed.netns);
  }

  /** Where a node started as primary serves its logging channel (host:port, from its command line). */
  logListenOf(node: ChaosNode): string {
    return node.record.args[node.record.args.indexOf('--log-listen') + 1]!;
  }

  /** A fresh secondary following the node whose logging channel is at `logListen` (host:port). */
  async startSecondary(logListen: string): Promise<ChaosNode> {
    if (this.o.placement) return this.spawnPlaced('secondary', logListen);
    const match = /^(.+):(\d+)$/.exec(logListen);
    if (!match) throw new Error(`cannot read the logging address '${logListen}'`);
    const delayMs = this.o.linkDelayMs?.() ?? 0;
    const proxy = new LinkProxy({ host: match[1]!, port: Number(match[2]) }, delayMs > 0 ? { kind: 'slow', delayMs } : { kind: 'pass' });
    await proxy.listen();
    this.proxies.push(proxy);
    const [port, logPort] = [await freePort(), await freePort()];
    const args = ['secondary', this.o.program, '--port', String(port), '--primary', `ws://127.0.0.1:${proxy.port}`, '--log-listen', `127.0.0.1:${logPort}`, '--dir', this.o.dir, ...this.o.common];
    return this.spawn('secondary', args, loopbackUrl(port), proxy);
  }

  /** What a supervisor does: the very same command line (same ports, same --dir, same host) as a new process. */
  async restart(node: ChaosNode): Promise<ChaosNode> {
    const restarted = await this.spawn(node.record.startedAs, node.record.args, node.record.url, node.proxy, node.netns);
    restarted.record.restartOf = node.record.id;
    return restarted;
  }

  private async spawn(startedAs: 'primary' | 'secondary', args: string[], url: string, proxy?: LinkProxy, netns?: string): Promise<ChaosNode> {
    // `ip netns exec` execs into node: the pid signalled is the node's own.
    const [command, argv] = netns ? ['ip', ['netns', 'exec', netns, process.execPath, LOCKSTEP_BIN, ...args]] : [process.execPath, [LOCKSTEP_BIN, ...args]];
    const child = spawn(command, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    const record: NodeRecord = { id: `n${this.nextId++}`, startedAs, args, url, startMs: this.o.now(), notable: [], outputTail: '' };
    let partial = '';
    let started = false;
    let onStarted: () => void = () => {};
    const collect = (chunk: Buffer) => {
      const text = partial + chunk.toString();
      const lines = text.split('\n');
      partial = lines.pop()!;
      for (const line of lines) {
        if (NOTABLE.test(line)) record.notable.push({ atMs: Math.round(this.o.now()), line });
        if (!started && /serving .* logging channel on|secondary of .* on http/.test(line)) {
          started = true;
          onStarted();
        }
      }
      record.outputTail = (record.outputTail + chunk.toString()).slice(-OUTPUT_TAIL_CHARS);
    };
    child.stdout!.on('data', collect);
    child.stderr!.on('data', collect);
    const exited = new Promise<void>((resolve) =>
      child.once('exit', (code, signal) => {
        record.exitMs = this.o.now();
        record.exitCode = code;
        record.exitSignal = signal;
        resolve();
      }),
    );
    const node: ChaosNode = {
      record,
      child,
      proxy,
      netns,
      get alive() {
        return record.exitMs === undefined;
      },
    };
    this.nodes.push(node);
    const startedP = new Promise<void>((resolve) => (onStarted = resolve));
    const timeout = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), NODE_START_TIMEOUT_MS).unref());
    const how = await Promise.race([startedP.then(() => 'started' as const), exited.then(() => 'exited' as const), timeout]);
    // A node that exits at start (e.g. a restarted node that refuses) is a result, not a harness failure.
    if (how === 'timeout') throw new Error(`${record.id} (${args.join(' ')}) did not start within ${NODE_START_TIMEOUT_MS} ms:\n${record.outputTail}`);
    return node;
  }

  signal(node: ChaosNode, signal: NodeJS.Signals): void {
    if (!node.alive) return;
    try {
      process.kill(node.child.pid!, signal);
    } catch {
      /* already gone */
    }
  }

  /** Kills every process it started (SIGCONT first: a stopped process must be able to die) and closes the proxies. */
  async closeAll(): Promise<void> {
    const exits = this.nodes.filter((n) => n.alive).map((n) => new Promise<void>((resolve) => {
      n.child.once('exit', () => resolve());
      this.signal(n, 'SIGCONT');
      this.signal(n, 'SIGKILL');
      setTimeout(resolve, 3000).unref();
    }));
    await Promise.all(exits);
    await Promise.all(this.proxies.map((p) => p.close()));
  }
}
