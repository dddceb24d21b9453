// The checkpoint policy of a recording (`lockstep run --record F --checkpoint-every-entries N`):
// after an event, once N entries have been logged since the last checkpoint, take one (a
// `checkpoint` entry in the log, a file beside it). At most one is being encoded at a time, so a
// slow disk delays the next checkpoint instead of piling copies of the heap up in memory. Once the
// log file passes `recordBytesMax`, it is cut right after the newest checkpoint file: a long
// recording keeps its last stretch, and replays from that checkpoint.
import type { Executor } from '../engine/executor.js';
import { checkpointLive } from './checkpoint.js';
import type { CheckpointIdentity } from './format.js';
import { listCheckpointFiles, writeCheckpointFile } from './sidecar.js';
import { rm } from 'node:fs/promises';

/** Default: checkpoint files kept beside a recording (the newest ones). */
export const CHECKPOINTS_KEPT_DEFAULT = 3;
/** Default bound on a recording with checkpoints: past it the log is cut at the newest checkpoint. */
export const RECORD_BYTES_MAX_DEFAULT = 1024 * 1024 * 1024;

/** What the policy needs of the log being written. */
export interface CuttableLog {
  readonly bytesWritten: number;
  cutBefore(fromSeq: number): Promise<void>;
}

export interface RecordingPolicyOptions {
  logPath: string;
  /** Take a checkpoint once this many entries were logged since the last one. */
  everyEntries: number;
  /** Checkpoint files kept (the newest). */
  keptMax?: number;
  /** Past this many bytes the log is cut at the newest checkpoint (Infinity: never). */
  recordBytesMax?: number;
  /** The log being written (cut when it passes recordBytesMax). */
  log?: CuttableLog;
}

export class RecordingCheckpoints {
  private lastSeq = 0;
  private writing: Promise<void> | undefined;
  private failure: unknown;
  /** Pauses (ms) of the checkpoints taken, for the log line at the end. */
  readonly pausesMs: number[] = [];

  constructor(
    private readonly executor: Executor,
    private readonly identity: CheckpointIdentity,
    private readonly options: RecordingPolicyOptions,
  ) {}

  /** Call between events (the live host's afterEvent hook). */
  afterEvent(): void {
    if (this.writing || this.executor.lastSeq - this.lastSeq < this.options.everyEntries) return;
    const checkpoint = checkpointLive(this.executor, this.identity);
    this.lastSeq = checkpoint.seq;
    this.pausesMs.push(checkpoint.pauseMs);
    this.writing = checkpoint.done
      .then((done) => writeCheckpointFile(this.options.logPath, checkpoint.seq, done.bytes, this.options.keptMax ?? CHECKPOINTS_KEPT_DEFAULT))
      .then(() => this.cutIfTooLong(checkpoint.seq))
      .catch((error: unknown) => {
        this.failure ??= error;
      })
      .finally(() => {
        this.writing = undefined;
      });
  }

  /** Past the bound, the log starts right after the checkpoint just written; older checkpoint files are of no use then. */
  private async cutIfTooLong(seq: number): Promise<void> {
    const { log, recordBytesMax = RECORD_BYTES_MAX_DEFAULT, logPath } = this.options;
    if (!log || log.bytesWritten <= recordBytesMax) return;
    await log.cutBefore(seq + 1);
    for (const file of await listCheckpointFiles(logPath)) if (file.seq < seq) await rm(file.path, { force: true });
  }

  /** Waits for the checkpoint being written; rejects with the first failure to write one. */
  async close(): Promise<void> {
    await this.writing;
    if (this.failure) throw this.failure;
  }
}
