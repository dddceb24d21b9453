// A configuration is a way of serving a guest program: a function that starts its nodes as real
// child processes and returns the URL the load goes to and a stop function. Adding a
// configuration (say, with a different replication setting) means adding one function here.
import { spawnSync } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort, LOCKSTEP_BIN, PROJECT_ROOT, startChild, startLockstep, stopChild, waitReady, WORKER_SCRIPT } from './processes.js';
import type { HttpOkTask } from './http-ok.js';
import type { Pinning } from './pinning.js';

export interface StartContext {
  /** Path of the guest program. */
  program: string;
  /** A fresh directory this start may use for data directories. */
  workDir: string;
  pinning: Pinning;
  /** Record the (primary's) log to this file. */
  record?: string;
}

export interface RunningTarget {
  /** Where the load generator sends its requests. */
  url: string;
  /** Stops every node cleanly (a recording is complete once this resolves). */
  stop(): Promise<void>;
  /** Every node: its role, process id (for its CPU time) and base URL (for its status). */
  nodes: { role: 'node' | 'primary' | 'secondary'; pid: number | undefined; url: string }[];
}

export interface Configuration {
  name: string;
  description: string;
  /** Whether it can write a log with --record. */
  records: boolean;
  start(context: StartContext): Promise<RunningTarget>;
}

/** `lockstep run`: one node, no replication (the baseline), pinned to the node core. */
export const unreplicated: Configuration = {
  name: 'lockstep-run',
  description: '`lockstep run` (one node, unreplicated) over HTTP',
  records: true,
  async start({ program, workDir, pinning, record }) {
    const port = await freePort();
    const dir = join(workDir, 'node');
    await mkdir(dir, { recursive: true });
    const args = ['run', program, '--port', String(port), '--dir', dir, ...(record ? ['--record', record] : [])];
    const node = startLockstep(pinning, 'node', args);
    const url = `http://127.0.0.1:${port}`;
    await waitReady(node, url, 'lockstep run');
    return { url, stop: () => stopChild(node), nodes: [{ role: 'node', pid: node.process.pid, url }] };
  },
};

/** A bare `node:http` server answering "ok" (no guest, no Lockstep), pinned to the node core: the limit. */
export const bareNode: Configuration = {
  name: 'bare-node-http',
  description: 'a bare node:http server answering "ok" (the physical limit of the request path)',
  records: false,
  async start({ pinning }) {
    const port = await freePort();
    const node = startChild(pinning, 'node', WORKER_SCRIPT, [JSON.stringify({ kind: 'http-ok', port } satisfies HttpOkTask)]);
    const url = `http://127.0.0.1:${port}`;
    await waitReady(node, url, 'the bare node:http server');
    return { url, stop: () => stopChild(node), nodes: [{ role: 'node', pid: node.process.pid, url }] };
  },
};

/**
 * `lockstep primary` + `lockstep secondary`: the primary on the node core, the secondary on the
 * load core; the load goes to the primary. Only offered when the `primary` command exists. Both
 * nodes use one directory, their shared storage (DESIGN.md: the channel's secret and the claim
 * files live there). Default heartbeat and failure timeout.
 */
export const replicated: Configuration = {
  name: 'replicated',
  description: '`lockstep primary` + `lockstep secondary` over HTTP (load to the primary)',
  records: false,
  async start({ program, workDir, pinning }) {
    const [port, logPort, secondaryPort] = [await freePort(), await freePort(), await freePort()];
    const shared = join(workDir, 'shared');
    await mkdir(shared, { recursive: true });
    const primary = startLockstep(pinning, 'node', ['primary', program, '--port', String(port), '--log-listen', `127.0.0.1:${logPort}`, '--dir', shared]);
    const url = `http://127.0.0.1:${port}`;
    try {
      await waitReady(primary, url, 'lockstep primary');
    } catch (error) {
      await stopChild(primary);
      throw error;
    }
    const secondaryUrl = `http://127.0.0.1:${secondaryPort}`;
    const secondary = startLockstep(pinning, 'secondary', ['secondary', program, '--port', String(secondaryPort), '--primary', `ws://127.0.0.1:${logPort}`, '--dir', shared, '--log-listen', '127.0.0.1:0']);
    try {
      await waitReady(secondary, secondaryUrl, 'lockstep secondary');
      await waitProtected(url);
    } catch (error) {
      await Promise.all([stopChild(secondary), stopChild(primary)]);
      throw error;
    }
    // Stop the secondary first so it does not take over when the primary goes.
    return {
      url,
      stop: async () => { await stopChild(secondary); await stopChild(primary); },
      nodes: [{ role: 'primary', pid: primary.process.pid, url }, { role: 'secondary', pid: secondary.process.pid, url: secondaryUrl }],
    };
  },
};

/** Waits until the primary says its secondary is attached (its outputs are gated from then on). */
async function waitProtected(primaryUrl: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const status = (await (await fetch(`${primaryUrl}/_lockstep/status`, { signal: AbortSignal.timeout(2000) })).json()) as { protection?: string };
      if (status.protection === 'protected') return;
      last = JSON.stringify(status);
    } catch (error) {
      last = String(error);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`the primary at ${primaryUrl} was not protected by its secondary within 15 s (last status: ${last})`);
}

/** True when `node bin/lockstep.js primary --help` exits 0 (the replication layer is in). */
export function replicationAvailable(): boolean {
  const probe = spawnSync(process.execPath, [LOCKSTEP_BIN, 'primary', '--help'], { cwd: PROJECT_ROOT, stdio: 'ignore', timeout: 15_000 });
  return !probe.error && probe.status === 0;
}
