// The whole log of this run, kept so a secondary that joins late (or a fresh one after failover)
// can replay from entry #1. Bounded: past `retainedEntriesMax` the oldest entries are dropped and
// a new secondary is refused with a clear error instead of being given a log with a hole.
import { isValue, type Entry } from '../log/entries.js';
import { assert } from '../assert.js';

export const RETAINED_ENTRIES_MAX = 5_000_000;

export class RetainedLog {
  private entries: Entry[] = [];
  /** Seq of entries[0]. */
  private firstSeq = 1;

  constructor(private readonly entriesMax = RETAINED_ENTRIES_MAX) {}

  append(seq: number, entry: Entry): void {
    assert(seq === this.lastSeq + 1, `retained log: got #${seq} after #${this.lastSeq}`);
    this.entries.push(entry);
    if (this.entries.length > this.entriesMax) {
      const drop = this.entries.length - this.entriesMax;
      this.entries = this.entries.slice(drop);
      this.firstSeq += drop;
    }
  }

  get lastSeq(): number {
    return this.firstSeq + this.entries.length - 1;
  }

  get retainedFrom(): number {
    return this.firstSeq;
  }

  get(seq: number): Entry {
    assert(seq >= this.firstSeq && seq <= this.lastSeq, `retained log has no #${seq}`);
    return this.entries[seq - this.firstSeq];
  }

  /**
   * Entries from `fromSeq`: about `countMax` of them, extended to the end of an event so a replayer
   * never holds half an event (the log's end is always an event boundary when this is called).
   */
  chunk(fromSeq: number, countMax: number): Entry[] {
    if (fromSeq > this.lastSeq) return [];
    let end = Math.min(this.lastSeq, fromSeq + countMax - 1);
    while (end < this.lastSeq && isValue(this.get(end + 1))) end++;
    return this.entries.slice(fromSeq - this.firstSeq, end - this.firstSeq + 1);
  }
}
