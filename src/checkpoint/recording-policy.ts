// The checkpoint policy of a recording (`lockstep run --record F --checkpoint-every-entries N`):
// after an event, once N entries have been logged since the last checkpoint, take one (a
// `checkpoint` entry in the log, a file beside it). At most one is being encoded at a time, so a
// slow disk delays the next checkpoint instead of piling copies of the heap up in memory.
import type { Executor } from '../engine/executor.js';
import { checkpointLive } from './checkpoint.js';
import type { CheckpointIdentity } from './format.js';
import { writeCheckpointFile } from './sidecar.js';

/** Default: checkpoint files kept beside a recording (the newest ones). */
export const CHECKPOINTS_KEPT_DEFAULT = 3;

export interface RecordingPolicyOptions {
  logPath: string;
  /** Take a checkpoint once this many entries were logged since the last one. */
  everyEntries: number;
  /** Checkpoint files kept (the newest). */
  keptMax?: number;
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
      .catch((error: unknown) => {
        this.failure ??= error;
      })
      .finally(() => {
        this.writing = undefined;
      });
  }

  /** Waits for the checkpoint being written; rejects with the first failure to write one. */
  async close(): Promise<void> {
    await this.writing;
    if (this.failure) throw this.failure;
  }
}
