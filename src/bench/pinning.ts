// CPU pinning with `taskset`: on a 2-core machine the node under test (the primary) gets core 0;
// the secondary and the load generator share core 1, as if each node had its own host.
import { spawnSync } from 'node:child_process';
import { cpus } from 'node:os';

export type Role = 'node' | 'secondary' | 'load' | 'measure';

export interface Pinning {
  enabled: boolean;
  /** Why pinning is off, or which cores each role gets. */
  description: string;
  coreOf: Record<Role, number>;
}

const CORES: Record<Role, number> = { node: 0, measure: 0, secondary: 1, load: 1 };

export function detectPinning(): Pinning {
  if (cpus().length < 2) return { enabled: false, description: 'not pinned: fewer than 2 cores', coreOf: CORES };
  const probe = spawnSync('taskset', ['-c', '0', 'true'], { stdio: 'ignore' });
  if (probe.error || probe.status !== 0) return { enabled: false, description: 'not pinned: taskset is not available', coreOf: CORES };
  return {
    enabled: true,
    description: 'taskset: node under test / primary and in-process loops on core 0; secondary and load generator on core 1',
    coreOf: CORES,
  };
}

/** The command and arguments that run `command args` pinned for `role` (unchanged when pinning is off). */
export function pinned(pinning: Pinning, role: Role, command: string, args: string[]): { command: string; args: string[] } {
  if (!pinning.enabled) return { command, args };
  return { command: 'taskset', args: ['-c', String(pinning.coreOf[role]), command, ...args] };
}
