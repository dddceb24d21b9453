// A real single-member etcd (Debian's etcd-server, v3.4) for the etcd arbiter's tests: free ports
// on 127.0.0.1 only (never 2379/2380, where the package may run its own), a temporary data dir,
// and a stop that kills the process and removes the dir, also when a test fails or the runner
// exits. Without the binary the tests skip with a message, unless LOCKSTEP_REQUIRE_ETCD=1 (CI),
// where a missing or failing etcd is an error.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, sleep } from './helpers.js';

export interface EtcdServer {
  /** For --arbiter: etcd://127.0.0.1:PORT. */
  url: string;
  clientPort: number;
  stop(): Promise<void>;
}

const ETCD_BINARIES = ['/usr/bin/etcd', '/usr/local/bin/etcd'];
const START_TIMEOUT_MS = 30_000;

/** Starts etcd, or says why it cannot (the caller skips, or fails under LOCKSTEP_REQUIRE_ETCD=1). */
export async function startEtcd(): Promise<EtcdServer | { unavailable: string }> {
  // LOCKSTEP_ETCD_BIN: another etcd binary (or a missing one, to see the skip).
  const binary = process.env.LOCKSTEP_ETCD_BIN ?? ETCD_BINARIES.find((b) => existsSync(b));
  if (!binary || !existsSync(binary)) return unavailable(`no etcd binary${binary ? ` at ${binary}` : ''} (install Debian's etcd-server: apt-get install -y etcd-server)`);
  const dataDir = await mkdtemp(join(tmpdir(), 'lockstep-etcd-'));
  const clientPort = await freePort();
  const peerPort = await freePort();
  const client = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  let output = '';
  const child: ChildProcess = spawn(binary, [
    '--name', 'test', '--data-dir', dataDir,
    '--listen-client-urls', client, '--advertise-client-urls', client,
    '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer,
    '--initial-cluster', `test=${peer}`, '--initial-cluster-state', 'new',
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (output = (output + d).slice(-4000)));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (output = (output + d).slice(-4000)));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  // A runner that dies mid-test must not leave etcd running.
  const onExit = () => child.kill('SIGKILL');
  process.once('exit', onExit);
  const stop = async () => {
    process.removeListener('exit', onExit);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
    await rm(dataDir, { recursive: true, force: true });
  };
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    try {
      const response = await fetch(`${client}/v3/kv/range`, { method: 'POST', body: JSON.stringify({ key: 'eA==' }), signal: AbortSignal.timeout(1000) });
      if (response.ok) return { url: `etcd://127.0.0.1:${clientPort}`, clientPort, stop };
    } catch {
      /* not up yet */
    }
    await sleep(100);
  }
  await stop();
  return unavailable(`etcd did not answer on ${client} within ${START_TIMEOUT_MS} ms:\n${output}`);
}

function unavailable(reason: string): { unavailable: string } {
  if (process.env.LOCKSTEP_REQUIRE_ETCD === '1') throw new Error(`LOCKSTEP_REQUIRE_ETCD=1 but ${reason}`);
  console.warn(`SKIPPING the etcd arbiter tests: ${reason}`);
  return { unavailable: reason };
}
