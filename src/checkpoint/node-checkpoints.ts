// The checkpoints of a pair node: when to take one (a policy in entries, log bytes and time), the
// newest one (given to a secondary that would need the log before it), and what taking them cost.
// A live node checkpoints by its policy and logs each one's digest; a replaying node takes its own
// checkpoint wherever the log has one, right after verifying the digest there, so once promoted it
// can re-protect itself from a checkpoint too. At most one is being encoded at a time.
import type { Executor } from '../engine/executor.js';
import { checkpointLive, takeCheckpoint, type Checkpoint } from './checkpoint.js';
import { CHECKPOINT_BYTES_MAX_DEFAULT, HEADER_BYTES_MAX, readCheckpointHeader, type CheckpointIdentity } from './format.js';

export const CHECKPOINT_EVERY_ENTRIES_DEFAULT = 10_000;
export const CHECKPOINT_EVERY_LOG_BYTES_DEFAULT = 8 * 1024 * 1024;
export const CHECKPOINT_EVERY_MS_DEFAULT = 60_000;
/** Pause figures kept for status (the newest). */
const PAUSES_KEPT = 256;

export interface CheckpointPolicy {
  /** Take one once this many entries were logged since the last (0: never by count). */
  everyEntries: number;
  /** ... or this many (estimated) bytes of log (0: never by size). */
  everyLogBytes: number;
  /** ... or this long since the last, if anything was logged (0: never by time). */
  everyMs: number;
  /** Bound on a checkpoint's uncompressed body. */
  checkpointBytesMax: number;
}

export const DEFAULT_CHECKPOINT_POLICY: CheckpointPolicy = {
  everyEntries: CHECKPOINT_EVERY_ENTRIES_DEFAULT,
  everyLogBytes: CHECKPOINT_EVERY_LOG_BYTES_DEFAULT,
  everyMs: CHECKPOINT_EVERY_MS_DEFAULT,
  checkpointBytesMax: CHECKPOINT_BYTES_MAX_DEFAULT,
};

export interface NewestCheckpoint {
  /** The state after entry #seq. */
  seq: number;
  bytes: Uint8Array;
}

export interface NodeCheckpointsOptions {
  policy: CheckpointPolicy;
  identity: CheckpointIdentity;
  /** Estimated bytes logged since #1 (for the size trigger). */
  logBytes: () => number;
  log: (line: string) => void;
}

export class NodeCheckpoints {
  newest: NewestCheckpoint | undefined;
  private encoding = false;
  private lastSeq = 0;
  private lastLogBytes = 0;
  private lastMs = performance.now();
  private taken = 0;
  private failed = 0;
  private readonly pausesMs: number[] = [];

  constructor(private readonly options: NodeCheckpointsOptions) {}

  /** Bound on a whole checkpoint file: its body's bound plus the largest header the format reads. */
  get bytesMax(): number {
    return this.options.policy.checkpointBytesMax + HEADER_BYTES_MAX;
  }

  /** Live: call between events. Takes a checkpoint (and logs its digest) when the policy says it is due. */
  afterLiveEvent(executor: Executor): void {
    if (this.encoding || !this.due(executor.lastSeq)) return;
    this.track(checkpointLive(executor, this.options.identity, { checkpointBytesMax: this.options.policy.checkpointBytesMax }));
  }

  /** Replay: call right after the executor replayed (and so verified) a `checkpoint` entry. */
  afterReplayedCheckpoint(executor: Executor): void {
    if (this.encoding) return;
    const started = performance.now();
    const done = takeCheckpoint(executor, this.options.identity, { checkpointBytesMax: this.options.policy.checkpointBytesMax });
    this.track({ seq: executor.lastSeq, pauseMs: performance.now() - started, done });
  }

  /** A checkpoint received from the primary (and restored): it is this node's newest too. */
  adopt(bytes: Uint8Array): void {
    const { header } = readCheckpointHeader(bytes);
    this.newest = { seq: header.seq, bytes };
    this.lastSeq = header.seq;
    this.lastMs = performance.now();
  }

  private due(seq: number): boolean {
    const { everyEntries, everyLogBytes, everyMs } = this.options.policy;
    if (seq <= this.lastSeq) return false;
    if (everyEntries > 0 && seq - this.lastSeq >= everyEntries) return true;
    if (everyLogBytes > 0 && this.options.logBytes() - this.lastLogBytes >= everyLogBytes) return true;
    return everyMs > 0 && performance.now() - this.lastMs >= everyMs;
  }

  private track(checkpoint: { seq: number; pauseMs: number; done: Promise<Checkpoint> }): void {
    this.encoding = true;
    this.lastSeq = checkpoint.seq;
    this.lastLogBytes = this.options.logBytes();
    this.lastMs = performance.now();
    this.pausesMs.push(checkpoint.pauseMs);
    if (this.pausesMs.length > PAUSES_KEPT) this.pausesMs.shift();
    checkpoint.done.then(
      ({ bytes, header }) => {
        this.encoding = false;
        this.taken++;
        this.newest = { seq: header.seq, bytes };
      },
      (error: Error & { code?: string }) => {
        this.encoding = false;
        this.failed++;
        this.options.log(`checkpoint after #${checkpoint.seq} failed, the previous one stays the newest: ${error.message}${error.code ? ` [${error.code}]` : ''}`);
      },
    );
  }

  status(): Record<string, unknown> {
    const sorted = [...this.pausesMs].sort((a, b) => a - b);
    const at = (q: number) => (sorted.length === 0 ? null : Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] * 100) / 100);
    return {
      checkpointSeq: this.newest?.seq ?? null,
      checkpointBytes: this.newest?.bytes.length ?? null,
      checkpointsTaken: this.taken,
      checkpointsFailed: this.failed,
      checkpointPauseMsP50: at(0.5),
      checkpointPauseMsP99: at(0.99),
    };
  }
}
