// A 3-member etcd cluster (Debian's etcd 3.4), one member per namespace, so a member can be killed
// or cut off on its own. Ports are etcd's usual ones: each member has its namespace to itself.
// Members are restarted on their own data (rejoining the cluster), and the harness asks etcd's
// JSON gateway, through the testbed's gateway, which member leads.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Gateway } from './gateway.js';
import type { Host } from './network.js';

export const ETCD_CLIENT_PORT = 2379;
const ETCD_PEER_PORT = 2380;
const START_MS_MAX = 30_000;
const OUTPUT_TAIL_CHARS = 6000;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class EtcdMember {
  private child: ChildProcess | undefined;
  private output = '';

  constructor(
    readonly host: Host,
    private readonly args: string[],
  ) {}

  get name(): string {
    return this.host.name;
  }

  get alive(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The end of what it printed, for failure messages. */
  get outputTail(): string {
    return this.output;
  }

  start(binary: string): void {
    const child = spawn('ip', ['netns', 'exec', this.host.ns, binary, ...this.args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (d: Buffer) => (this.output = (this.output + d.toString()).slice(-OUTPUT_TAIL_CHARS));
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    this.child = child;
  }

  async kill(): Promise<void> {
    const child = this.child;
    if (!child || !this.alive) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGKILL');
    await exited;
  }
}

export class EtcdCluster {
  private constructor(
    readonly members: EtcdMember[],
    private readonly binary: string,
    private readonly gateway: Gateway,
  ) {}

  /** Starts one member on each host; resolves once every member answers (a quorum exists). `token` names this cluster. */
  static async start(hosts: Host[], dataDir: string, token: string, gateway: Gateway, binary = 'etcd'): Promise<EtcdCluster> {
    const initialCluster = hosts.map((h) => `${h.name}=http://${h.address}:${ETCD_PEER_PORT}`).join(',');
    const members: EtcdMember[] = [];
    for (const host of hosts) {
      await mkdir(join(dataDir, host.name), { recursive: true });
      const client = `http://${host.address}:${ETCD_CLIENT_PORT}`;
      const peer = `http://${host.address}:${ETCD_PEER_PORT}`;
      members.push(new EtcdMember(host, [
        '--name', host.name, '--data-dir', join(dataDir, host.name),
        '--listen-client-urls', client, '--advertise-client-urls', client,
        '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer,
        '--initial-cluster', initialCluster, '--initial-cluster-state', 'new', '--initial-cluster-token', token,
      ]));
    }
    const cluster = new EtcdCluster(members, binary, gateway);
    for (const m of members) m.start(binary);
    await cluster.waitHealthy(START_MS_MAX);
    return cluster;
  }

  /** For --arbiter: etcd://ADDRESS:2379,... (every member). */
  get url(): string {
    return `etcd://${this.members.map((m) => `${m.host.address}:${ETCD_CLIENT_PORT}`).join(',')}`;
  }

  /** The members' hosts (what a node↔etcd cut cuts a node from). */
  get hosts(): Host[] {
    return this.members.map((m) => m.host);
  }

  /** Resolves once every live member answers a read, or throws with their output. */
  async waitHealthy(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.members.some((m) => !m.alive)) break;
      // A linearizable read needs a quorum and a leader: every member answering one means the cluster is up.
      const answers = await Promise.all(this.members.map((m) => this.post(m, '/v3/kv/range', { key: 'eA==' })));
      if (answers.every((a) => a !== undefined)) return;
      await sleep(100);
    }
    const said = this.members.map((m) => `--- ${m.name} (${m.alive ? 'running' : 'exited'}):\n${m.outputTail.slice(-1500)}`).join('\n');
    throw new Error(`etcd (${this.members.length} members on ${this.url}) was not healthy within ${timeoutMs} ms:\n${said}`);
  }

  /** The member that leads now, as a live member says, if any answers. */
  async leader(): Promise<EtcdMember | undefined> {
    for (const member of this.members.filter((m) => m.alive)) {
      const status = await this.post(member, '/v3/maintenance/status', {});
      const leaderId = status?.leader as string | undefined;
      if (!leaderId || leaderId === '0') continue;
      const list = await this.post(member, '/v3/cluster/member/list', {});
      const leader = (list?.members as Array<{ ID: string; name: string }> | undefined)?.find((m) => m.ID === leaderId);
      const found = this.members.find((m) => m.name === leader?.name);
      if (found) return found;
    }
    return undefined;
  }

  /** Waits for a leader (an election may be under way) and SIGKILLs it; resolves with its name. */
  async killLeader(timeoutMs = 20_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const leader = await this.leader();
      if (leader) {
        await leader.kill();
        return leader.name;
      }
      if (Date.now() > deadline) throw new Error(`no etcd member named a leader within ${timeoutMs} ms`);
      await sleep(200);
    }
  }

  /** SIGKILLs `count` members (followers first), leaving the rest without a quorum when count >= 2. */
  async killMembers(count: number): Promise<string[]> {
    const leader = await this.leader();
    const order = [...this.members.filter((m) => m !== leader), ...(leader ? [leader] : [])].filter((m) => m.alive);
    const victims = order.slice(0, count);
    await Promise.all(victims.map((m) => m.kill()));
    return victims.map((m) => m.name);
  }

  /** Restarts every dead member on its own data; resolves once the cluster is healthy again. */
  async restartDead(timeoutMs = START_MS_MAX): Promise<void> {
    for (const m of this.members) if (!m.alive) m.start(this.binary);
    await this.waitHealthy(timeoutMs);
  }

  async stop(): Promise<void> {
    await Promise.all(this.members.map((m) => m.kill()));
  }

  private async post(member: EtcdMember, path: string, body: unknown): Promise<Record<string, unknown> | undefined> {
    try {
      const url = await this.gateway.url(member.host.address, ETCD_CLIENT_PORT);
      const response = await fetch(`${url}${path}`, { method: 'POST', body: JSON.stringify(body), signal: AbortSignal.timeout(1000) });
      return response.ok ? ((await response.json()) as Record<string, unknown>) : undefined;
    } catch {
      return undefined;
    }
  }
}
