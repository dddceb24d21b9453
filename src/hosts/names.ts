// Names of everything a testbed makes: lsh-<pid>-<random>-<host>, so runs never collide, and a
// later run can tell a crashed run's leftovers (its pid is gone) from a live run's.
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const NAME_PREFIX = 'lsh';

export interface RunTag {
  /** The pid of the process that owns the run, base 36. */
  pid: string;
  random: string;
}

export function newRunTag(): RunTag {
  return { pid: process.pid.toString(36), random: randomBytes(3).toString('hex') };
}

const tagText = (tag: RunTag) => `${NAME_PREFIX}-${tag.pid}-${tag.random}`;

export function namespaceName(tag: RunTag, host: string): string {
  return `${tagText(tag)}-${host}`;
}

/** The run's own directory (etcd data, node directories, the gateway's socket). */
export function runDirOf(tag: RunTag): string {
  return join(tmpdir(), `lockstep-hosts-${tag.pid}-${tag.random}`);
}

/** The run a namespace or run directory name belongs to, if it is one of ours. */
export function parseRunTag(name: string): RunTag | undefined {
  const m = /^(?:lsh-|lockstep-hosts-)([0-9a-z]+)-([0-9a-f]{6})(?:-|$)/.exec(name);
  return m ? { pid: m[1]!, random: m[2]! } : undefined;
}

/** Whether the process that made this run is still alive. */
export function runIsAlive(tag: RunTag): boolean {
  try {
    process.kill(parseInt(tag.pid, 36), 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
