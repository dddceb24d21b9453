// An in-order queue of log entries for a replayer: filled from a file at once, or batch by batch
// from the logging channel. It checks numbering, so a gap or repeat can never be replayed past.
import { LogFormatError } from '../errors.js';
import type { Entry } from '../log/entries.js';
import type { EntrySource } from '../world/replay-world.js';

export class EntryQueue implements EntrySource {
  private entries: Entry[] = [];
  private head = 0;
  /** Seq of entries[0]. */
  private baseSeq: number;

  /** `firstSeq`: the first entry this queue will hold (after a checkpoint, the one after it). */
  constructor(firstSeq = 1) {
    this.baseSeq = firstSeq;
  }

  /** Appends entries numbered from `firstSeq`, which must follow the last one held. */
  push(firstSeq: number, entries: Entry[]): void {
    const expected = this.baseSeq + this.entries.length;
    if (firstSeq !== expected) {
      throw new LogFormatError('LOCKSTEP_LOG_GAP', `Entries arrived numbered from #${firstSeq} but #${expected} was expected next: the log has a gap or a repeat.`);
    }
    for (const entry of entries) this.entries.push(entry);
  }

  take(): { seq: number; entry: Entry } | undefined {
    if (this.head >= this.entries.length) return undefined;
    const seq = this.baseSeq + this.head;
    const entry = this.entries[this.head++];
    if (this.head > 4096 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.baseSeq += this.head;
      this.head = 0;
    }
    return { seq, entry };
  }

  nextSeq(): number {
    return this.baseSeq + this.head;
  }

  /** Seq of the last entry received. */
  lastSeq(): number {
    return this.baseSeq + this.entries.length - 1;
  }

  get pending(): number {
    return this.entries.length - this.head;
  }
}
