// A real etcd (Debian's etcd-server, v3.4) for the etcd arbiter's tests, one member or a cluster:
// free ports on 127.0.0.1 only (never 2379/2380, where the package may run its own), temporary
// data dirs, and a stop that kills every member and removes the dirs, also when a test fails or
// the runner exits. Without the binary the tests skip with a message, unless
// LOCKSTEP_REQUIRE_ETCD=1 (CI), where a missing or failing etcd is an error.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, sleep } from './helpers.js';

export interface EtcdMember {
  name: string;
  clientPort: number;
  readonly alive: boolean;
  /** SIGKILL this member (its data stays until the cluster stops). */
  kill(): Promise<void>;
}

export interface EtcdServer {
  /** For --arbiter: etcd://127.0.0.1:PORT[,127.0.0.1:PORT...], every member. */
  url: string;
  /** The first member's client port. */
  clientPort: number;
  members: EtcdMember[];
  /** The member that leads now (asked of a live member), if any answers. */
  leader(): Promise<EtcdMember | undefined>;
  stop(): Promise<void>;
}

const ETCD_BINARIES = ['/usr/bin/etcd', '/usr/local/bin/etcd'];
const START_TIMEOUT_MS = 30_000;
const START_ATTEMPTS = 3;

/** Starts a single etcd, or says why it cannot (the caller skips, or fails under LOCKSTEP_REQUIRE_ETCD=1). */
export function startEtcd(): Promise<EtcdServer | { unavailable: string }> {
  return startEtcdCluster(1);
}

/** Starts `size` etcd members forming one cluster. */
export async function startEtcdCluster(size: number): Promise<EtcdServer | { unavailable: string }> {
  // LOCKSTEP_ETCD_BIN: another etcd binary (or a missing one, to see the skip).
  const binary = process.env.LOCKSTEP_ETCD_BIN ?? ETCD_BINARIES.find((b) => existsSync(b));
  if (!binary || !existsSync(binary)) return unavailable(`no etcd binary${binary ? ` at ${binary}` : ''} (install Debian's etcd-server: apt-get install -y etcd-server)`);
  // A port free a moment ago can be taken by the time etcd binds it (other test files, other
  // processes on the machine): a member that exits at start is retried on fresh ports.
  let failure = '';
  for (let attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
    const started = await startOnce(binary, size);
    if ('url' in started) return started;
    failure = started.failed;
  }
  return unavailable(failure);
}

async function startOnce(binary: string, size: number): Promise<EtcdServer | { failed: string }> {
  const dataDir = await mkdtemp(join(tmpdir(), 'lockstep-etcd-'));
  const specs: Array<{ name: string; clientPort: number; peerPort: number }> = [];
  for (let i = 0; i < size; i++) specs.push({ name: `m${i}`, clientPort: await freePort(), peerPort: await freePort() });
  const initialCluster = specs.map((s) => `${s.name}=http://127.0.0.1:${s.peerPort}`).join(',');
  let output = '';
  const children: ChildProcess[] = [];
  const members: EtcdMember[] = specs.map((spec) => {
    const client = `http://127.0.0.1:${spec.clientPort}`;
    const peer = `http://127.0.0.1:${spec.peerPort}`;
    const child = spawn(binary, [
      '--name', spec.name, '--data-dir', join(dataDir, spec.name),
      '--listen-client-urls', client, '--advertise-client-urls', client,
      '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer,
      '--initial-cluster', initialCluster, '--initial-cluster-state', 'new', '--initial-cluster-token', `lockstep-test-${specs[0].clientPort}`,
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    const keep = (d: string) => (output = (output + `[${spec.name}] ` + d).slice(-6000));
    child.stdout!.setEncoding('utf8').on('data', keep);
    child.stderr!.setEncoding('utf8').on('data', keep);
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    return {
      name: spec.name,
      clientPort: spec.clientPort,
      get alive() {
        return child.exitCode === null && child.signalCode === null;
      },
      async kill() {
        if (this.alive) child.kill('SIGKILL');
        await exited;
      },
    };
  });
  // A runner that dies mid-test must not leave etcd running.
  const onExit = () => children.forEach((c) => c.kill('SIGKILL'));
  process.once('exit', onExit);
  const stop = async () => {
    process.removeListener('exit', onExit);
    await Promise.all(members.map((m) => m.kill()));
    await rm(dataDir, { recursive: true, force: true });
  };
  const server: EtcdServer = {
    url: `etcd://${specs.map((s) => `127.0.0.1:${s.clientPort}`).join(',')}`,
    clientPort: specs[0].clientPort,
    members,
    stop,
    async leader() {
      for (const member of members.filter((m) => m.alive)) {
        const status = await post(member.clientPort, '/v3/maintenance/status', {});
        const leaderId = status?.leader as string | undefined;
        if (!leaderId) continue;
        const list = await post(member.clientPort, '/v3/cluster/member/list', {});
        const leader = (list?.members as Array<{ ID: string; name: string }> | undefined)?.find((m) => m.ID === leaderId);
        return members.find((m) => m.name === leader?.name);
      }
      return undefined;
    },
  };
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (members.some((m) => !m.alive)) break;
    // A write needs a quorum, so once every member answers a range the cluster is up.
    const answers = await Promise.all(specs.map((s) => post(s.clientPort, '/v3/kv/range', { key: 'eA==' })));
    if (answers.every((a) => a !== undefined)) return server;
    await sleep(100);
  }
  await stop();
  return { failed: `etcd (${size} member${size > 1 ? 's' : ''}) did not answer on 127.0.0.1:${specs.map((s) => s.clientPort).join(',')} within ${START_TIMEOUT_MS} ms or exited:\n${output}` };
}

async function post(port: number, path: string, body: unknown): Promise<Record<string, unknown> | undefined> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}${path}`, { method: 'POST', body: JSON.stringify(body), signal: AbortSignal.timeout(1000) });
    return response.ok ? ((await response.json()) as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function unavailable(reason: string): { unavailable: string } {
  if (process.env.LOCKSTEP_REQUIRE_ETCD === '1') throw new Error(`LOCKSTEP_REQUIRE_ETCD=1 but ${reason}`);
  console.warn(`SKIPPING the etcd arbiter tests: ${reason}`);
  return { unavailable: reason };
}
