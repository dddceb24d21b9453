// Removing what a testbed made: its namespaces (and with them their veth pairs and rules), every
// process still running inside them, and its run directory. Also sweeps the leftovers of earlier
// runs whose owning process died without cleaning up (a SIGKILLed test runner).
import { execFileSync } from 'node:child_process';
import { readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ip } from './shell.js';
import { NAME_PREFIX, parseRunTag, runIsAlive, type RunTag } from './names.js';

/** Namespaces whose names start with the testbeds' prefix. */
export async function ourNamespaces(): Promise<string[]> {
  const listed = await ip('netns', 'list').catch(() => '');
  return listed.split('\n').map((line) => line.split(' ')[0]!).filter((name) => name.startsWith(`${NAME_PREFIX}-`));
}

/** SIGKILLs every process inside `ns`, then deletes it. */
export async function deleteNamespace(ns: string): Promise<void> {
  const pids = await ip('netns', 'pids', ns).catch(() => '');
  for (const pid of pids.split('\n').map(Number).filter((p) => p > 0)) {
    try {
      process.kill(pid, 'SIGCONT');
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  await ip('netns', 'del', ns).catch(() => undefined);
}

const sameRun = (a: RunTag, b: RunTag) => a.pid === b.pid && a.random === b.random;

/** Deletes one run's namespaces and directory. */
export async function sweepRun(tag: RunTag, runDir: string): Promise<void> {
  for (const ns of await ourNamespaces()) {
    const owner = parseRunTag(ns);
    if (owner && sameRun(owner, tag)) await deleteNamespace(ns);
  }
  await rm(runDir, { recursive: true, force: true }).catch(() => undefined);
}

/** Deletes the namespaces and run directories of runs whose owning process is gone. */
export async function sweepCrashedRuns(): Promise<number> {
  let swept = 0;
  for (const ns of await ourNamespaces()) {
    const owner = parseRunTag(ns);
    if (owner && !runIsAlive(owner)) {
      await deleteNamespace(ns);
      swept++;
    }
  }
  const entries = await readdir(tmpdir()).catch(() => [] as string[]);
  for (const name of entries) {
    const owner = name.startsWith('lockstep-hosts-') ? parseRunTag(name) : undefined;
    if (owner && !runIsAlive(owner)) await rm(join(tmpdir(), name), { recursive: true, force: true }).catch(() => undefined);
  }
  return swept;
}

/** The same as sweepRun, synchronously: for a process 'exit' handler, where nothing async runs. */
export function sweepRunSync(namespaces: string[]): void {
  for (const ns of namespaces) {
    try {
      const pids = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', timeout: 5000 });
      for (const pid of pids.split('\n').map(Number).filter((p) => p > 0)) {
        try {
          process.kill(pid, 'SIGCONT');
          process.kill(pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
      execFileSync('ip', ['netns', 'del', ns], { timeout: 5000, stdio: 'ignore' });
    } catch {
      /* already deleted */
    }
  }
}
