// The seeded fault schedule of `lockstep chaos`: which faults, in what order, how long each lasts
// and how long the load runs quietly before it. A pure function of (seed, count, kinds), so the
// same seed reproduces the same schedule.
import { UsageError } from '../errors.js';
import { createRng, type Rng } from '../client/rng.js';

export const faultKinds = [
  'kill-primary', // SIGKILL of the primary; a fresh secondary re-protects the survivor
  'kill-secondary', // SIGKILL of the secondary; a fresh secondary re-protects the primary
  'restart-primary', // SIGKILL of the primary, then the supervisor restarts it with its original command
  'restart-secondary', // SIGKILL of the secondary, then restarted with its original command
  'stop-primary', // SIGSTOP of the primary for a while, then SIGCONT
  'stop-secondary', // SIGSTOP of the secondary for a while, then SIGCONT
  'link-cut', // the logging link refuses and resets connections for a while
  'link-blackhole', // the logging link holds every byte (connections stay open), then delivers them
  'link-slow', // every byte on the logging link arrives late for a while
  'blackhole-kill-primary', // the logging link holds every byte, and the primary dies before it heals
  'disk-full', // guest disk writes fail with ENOSPC for a while (a full tmpfs under <dir>/data)
] as const;

/** Faults of the network between hosts and of etcd: only on a namespace testbed (lockstep chaos --hosts). */
export const hostFaultKinds = [
  'net-cut', // packets between the primary's and the secondary's hosts dropped both ways for a while
  'net-cut-one-way', // only what one of the two hosts sends to the other is dropped (the side is seeded)
  'net-cut-etcd-primary', // the primary's host cut off from every etcd member for a while
  'net-cut-etcd-secondary', // the secondary's host cut off from every etcd member for a while
  'etcd-leader-kill', // SIGKILL of etcd's leader; it is restarted on its own data after a while
] as const;
export type FaultKind = (typeof faultKinds)[number] | (typeof hostFaultKinds)[number];

/** The node faults that need no proxy, beside every host fault: what 'hosts' means with --hosts. */
export const HOSTS_KINDS: readonly FaultKind[] = ['kill-primary', 'kill-secondary', 'restart-primary', 'restart-secondary', 'stop-primary', 'stop-secondary', ...hostFaultKinds];

export function isHostFault(kind: FaultKind): boolean {
  return (hostFaultKinds as readonly string[]).includes(kind);
}

/** Faults today's nodes are expected to survive: the mix the test suite runs. */
export const SAFE_KINDS: readonly FaultKind[] = ['kill-primary', 'kill-secondary'];

/** Most faults a schedule may hold (each takes seconds of real time). */
export const FAULTS_MAX = 100_000;

export interface ScheduledFault {
  index: number;
  kind: FaultKind;
  /** Load runs this long with the pair protected before the fault. */
  quietMs: number;
  /** How long the fault lasts (0 for a kill, which is instantaneous). */
  durationMs: number;
  /** link-slow: the delay added to every chunk. */
  delayMs: number;
  /** net-cut-one-way: the host whose packets to the other are dropped. */
  from?: 'primary' | 'secondary';
}

export interface ScheduleOptions {
  seed: number;
  faults: number;
  kinds: readonly FaultKind[];
  /** Silence after which a node declares its peer failed; fault durations straddle it. */
  failureTimeoutMs: number;
}

const knownKinds: readonly string[] = [...faultKinds, ...hostFaultKinds];

/** 'safe', 'all' (every loopback kind), 'hosts' (with --hosts), or a comma-separated list of kinds. */
export function parseKinds(text: string): FaultKind[] {
  if (text === 'safe') return [...SAFE_KINDS];
  if (text === 'all') return [...faultKinds];
  if (text === 'hosts') return [...HOSTS_KINDS];
  const kinds = text.split(',').map((s) => s.trim()).filter(Boolean);
  for (const kind of kinds) {
    if (!knownKinds.includes(kind)) {
      throw new UsageError(`--fault-kinds: unknown kind '${kind}'; use 'safe', 'all', 'hosts' or a list of: ${knownKinds.join(', ')}.`);
    }
  }
  if (kinds.length === 0) throw new UsageError(`--fault-kinds: give 'safe', 'all' or a list of: ${faultKinds.join(', ')}.`);
  return [...new Set(kinds)] as FaultKind[];
}

const between = (rng: Rng, lo: number, hi: number) => lo + rng.int(hi - lo + 1);

function durationOf(kind: FaultKind, rng: Rng, timeoutMs: number): { durationMs: number; delayMs: number } {
  switch (kind) {
    case 'kill-primary':
    case 'kill-secondary':
    case 'restart-primary':
    case 'restart-secondary':
      return { durationMs: 0, delayMs: 0 };
    case 'stop-primary':
    case 'stop-secondary':
    case 'link-cut':
    case 'link-blackhole':
      // Sometimes shorter than the failure timeout (nobody should fail over), mostly longer.
      return { durationMs: between(rng, Math.round(timeoutMs / 2), timeoutMs * 4), delayMs: 0 };
    case 'blackhole-kill-primary':
      // Shorter than the failure timeout: nobody has failed over yet when the primary dies.
      return { durationMs: between(rng, Math.round(timeoutMs / 4), Math.round((timeoutMs * 3) / 4)), delayMs: 0 };
    case 'link-slow':
      return { durationMs: between(rng, 500, 3000), delayMs: between(rng, 5, Math.max(10, Math.round(timeoutMs / 3))) };
    case 'disk-full':
      return { durationMs: between(rng, 300, 2000), delayMs: 0 };
    case 'net-cut':
    case 'net-cut-one-way':
    case 'net-cut-etcd-primary':
    case 'net-cut-etcd-secondary':
      return { durationMs: between(rng, Math.round(timeoutMs / 2), timeoutMs * 4), delayMs: 0 };
    case 'etcd-leader-kill':
      // How long the killed member stays down: the cluster runs on two of three meanwhile.
      return { durationMs: between(rng, 500, timeoutMs * 4), delayMs: 0 };
    default: {
      const never: never = kind;
      throw new Error(`unknown fault kind ${never}`);
    }
  }
}

export function makeSchedule(options: ScheduleOptions): ScheduledFault[] {
  if (options.kinds.length === 0) throw new UsageError('the fault schedule needs at least one fault kind.');
  const rng = createRng(options.seed ^ 0x5eed_c4a0);
  return Array.from({ length: options.faults }, (_, index) => {
    const kind = options.kinds[rng.int(options.kinds.length)]!;
    const fault: ScheduledFault = { index, kind, quietMs: between(rng, 300, 1500), ...durationOf(kind, rng, options.failureTimeoutMs) };
    // Drawn only for this kind, so the schedules of every other kind stay what they were.
    if (kind === 'net-cut-one-way') fault.from = rng.int(2) === 0 ? 'primary' : 'secondary';
    return fault;
  });
}
