// What both nodes of a pair share: their options, how a running node looks to the CLI, and the
// setup they do the same way (the program, its limits, the shared directory, the channel secret).
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadOrCreateSecret, readSecret } from '../channel/secret.js';
import { FAILURE_TIMEOUT_MS_DEFAULT, FRAME_BYTES_MAX_DEFAULT, HEARTBEAT_INTERVAL_MS_DEFAULT } from '../channel/channel-server.js';
import { loadProgram, makeHeader } from '../engine/program.js';
import { UsageError } from '../errors.js';
import { REQUEST_BODY_BYTES_MAX } from '../http/service-server.js';
import type { GuestLimits } from '../log/entries.js';
import { DEFAULT_GUEST_LIMITS } from '../sandbox/guest.js';
import { FencedError } from './errors.js';
import { DEFAULT_CHECKPOINT_POLICY, NodeCheckpoints, type CheckpointPolicy } from '../checkpoint/node-checkpoints.js';
import { identityOf } from '../checkpoint/checkpoint.js';
import type { RetainedLog } from './retained-log.js';
import { FileArbiter } from './arbitration.js';
import { ARBITER_PREFIX_DEFAULT, EtcdArbiter } from './etcd-arbiter.js';
import type { Arbiter } from './arbiter.js';

export interface PairOptions {
  program: string;
  host?: string;
  port: number;
  dir: string;
  limits?: Partial<GuestLimits>;
  bodyBytesMax?: number;
  heartbeatIntervalMs?: number;
  failureTimeoutMs?: number;
  unackedBytesMax?: number;
  /** Requests held back by flow control, at most, in bytes (503 past it). */
  admissionWaitingBytesMax?: number;
  /** A claim not decided within this long stops the node (exit 11). */
  claimTimeoutMs?: number;
  /** Log kept in memory for a secondary that joins later, in (estimated) bytes. */
  retainedBytesMax?: number;
  /** When to checkpoint (live) — see node-checkpoints.ts; unset fields take the defaults. */
  checkpointPolicy?: Partial<CheckpointPolicy>;
  /** Entries sent beyond what the secondary has replayed, at most (bounds the failover time). */
  replayBacklogEntriesMax?: number;
  /** The same bound in replay time (what the events cost live), in ms. */
  replayBacklogMsMax?: number;
  frameBytesMax?: number;
  /** 'file' (default: claims in --dir) or etcd://HOST:PORT[,HOST:PORT...]. */
  arbiter?: string;
  /** Key prefix of the pair's claims in etcd (default `lockstep`). */
  arbiterPrefix?: string;
  /** The etcd arbiter's lease TTL, in ms (rounded up to whole seconds). */
  arbiterLeaseMs?: number;
  /** The channel secret's file (both nodes hold a copy); default <dir>/channel.secret, made on first use. */
  secretFile?: string;
  /** Bound on the guest's files sent to a fresh secondary with its own replica, in bytes. */
  replicaBytesMax?: number;
  log?: (line: string) => void;
  onConsole?: (level: string, text: string) => void;
}

export interface RunningNode {
  port: number;
  logPort?: number;
  /** Resolves with the exit code the process should end with (fenced, stopped...). */
  done: Promise<number>;
  /** Planned stop (SIGTERM/SIGINT). */
  stop(reason: string): Promise<void>;
  status(): Record<string, unknown>;
}

export const FENCED_EXIT_CODE = new FencedError('').exitCode;
/** A node's name in the arbiter, in its --dir. */
export const NODE_NAME_FILE = 'node-name';
/** Room in a log frame besides a request body: headers, the event's clock and entropy values, framing. */
const FRAME_HEADROOM_BYTES = 1024 * 1024;

/** What both nodes of a pair set up the same way: the program, its limits, the data dir, the secret. */
export async function preparePairNode(options: PairOptions) {
  checkFrameFitsBody(options);
  const program = await loadProgram(options.program);
  const limits: GuestLimits = { ...DEFAULT_GUEST_LIMITS, ...options.limits };
  await mkdir(options.dir, { recursive: true });
  const secret = options.secretFile ? await readSecret(options.secretFile) : await loadOrCreateSecret(options.dir);
  const node = await loadOrCreateNodeName(options.dir);
  const arbiter = arbiterFor(options, node);
  // Before anything is served: an arbiter that cannot be reached (etcd down, a wrong address) stops the start (exit 11).
  await arbiter.current();
  await arbiter.start(options.log ?? ((line) => process.stderr.write(`[arbiter] ${line}\n`)));
  // With etcd each node has its own --dir: the secondary keeps its own replica of the guest's files.
  const replicaFiles = arbiter.kind !== 'file';
  return { program, limits, secret, header: makeHeader(program, limits), arbiter, node, replicaFiles };
}

/** This node's name in the arbiter (membership of epochs): made once, kept in its --dir, so a restart is the same node. */
async function loadOrCreateNodeName(dir: string): Promise<string> {
  const path = join(dir, NODE_NAME_FILE);
  const existing = await readFile(path, 'utf8').catch(() => undefined);
  if (existing && /^[0-9a-f]{16}$/.test(existing.trim())) return existing.trim();
  const name = randomBytes(8).toString('hex');
  await writeFile(path, `${name}\n`, { mode: 0o644 });
  return name;
}

/** The pair's arbiter: claims in the shared directory, or in etcd with --arbiter etcd://... */
export function arbiterFor(options: Pick<PairOptions, 'dir' | 'arbiter' | 'arbiterPrefix' | 'arbiterLeaseMs'>, node = ''): Arbiter {
  const kind = options.arbiter ?? 'file';
  if (kind === 'file') return new FileArbiter(options.dir);
  return new EtcdArbiter(kind, options.arbiterPrefix ?? ARBITER_PREFIX_DEFAULT, undefined, { node, leaseTtlMs: options.arbiterLeaseMs });
}

/** A request body must fit one log frame (bodies are logged as their bytes, with room for the rest of the entry). */
function checkFrameFitsBody(options: PairOptions): void {
  const bodyBytesMax = options.bodyBytesMax ?? REQUEST_BODY_BYTES_MAX;
  const frameBytesMax = options.frameBytesMax ?? FRAME_BYTES_MAX_DEFAULT;
  if (bodyBytesMax + FRAME_HEADROOM_BYTES > frameBytesMax) {
    throw new UsageError(
      `--body-bytes-max ${bodyBytesMax} does not fit a log frame of ${frameBytesMax} bytes (a request is logged whole, ` +
        `needing the body + ${FRAME_HEADROOM_BYTES} bytes). Lower --body-bytes-max to at most ${frameBytesMax - FRAME_HEADROOM_BYTES}.`,
    );
  }
}


/**
 * What a serving node's PrimaryRole takes from its flags and set-up, the same way for a primary, a
 * promoted secondary and a promoted shadow; the rest (epoch, lineage, checkpoints, callbacks) is each node's own.
 */
export function roleOptionsFrom(options: PairOptions & { logListen: { host: string; port: number } }, prepared: Awaited<ReturnType<typeof preparePairNode>>) {
  return {
    arbiter: prepared.arbiter,
    listen: options.logListen,
    secret: prepared.secret,
    header: prepared.header,
    heartbeatIntervalMs: options.heartbeatIntervalMs ?? HEARTBEAT_INTERVAL_MS_DEFAULT,
    failureTimeoutMs: options.failureTimeoutMs ?? FAILURE_TIMEOUT_MS_DEFAULT,
    frameBytesMax: options.frameBytesMax,
    unackedBytesMax: options.unackedBytesMax,
    admissionWaitingBytesMax: options.admissionWaitingBytesMax,
    claimTimeoutMs: options.claimTimeoutMs,
    replayBacklogEntriesMax: options.replayBacklogEntriesMax,
    replayBacklogMsMax: options.replayBacklogMsMax,
    replicaBytesMax: options.replicaBytesMax,
  };
}

/** A node's checkpoints under its policy (the log bytes trigger reads `retained`, which may be replaced later). */
export function nodeCheckpoints(options: PairOptions, prepared: Awaited<ReturnType<typeof preparePairNode>>, retained: () => RetainedLog, log: (line: string) => void): NodeCheckpoints {
  return new NodeCheckpoints({
    policy: { ...DEFAULT_CHECKPOINT_POLICY, ...options.checkpointPolicy },
    identity: identityOf(prepared.program, prepared.limits),
    logBytes: () => retained().bytesThrough(retained().lastSeq),
    log,
  });
}
