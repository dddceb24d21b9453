// A replay source over a whole log held in memory that can be started at any entry: time travel
// restarts replay many times over the same entries without copying them into a queue each time.
import { assert } from '../assert.js';
import { isEvent, isValue, type Entry, type EventEntry } from '../log/entries.js';
import type { EntrySource } from '../world/replay-world.js';

export class LogCursor implements EntrySource {
  private next: number;

  /** `entries[0]` is entry #firstSeq; the first take() returns entry #startSeq. */
  constructor(
    private readonly entries: readonly Entry[],
    private readonly firstSeq: number,
    startSeq: number,
  ) {
    assert(startSeq >= firstSeq && startSeq <= firstSeq + entries.length, `a cursor over #${firstSeq}..#${firstSeq + entries.length - 1} cannot start at #${startSeq}`);
    this.next = startSeq;
  }

  take(): { seq: number; entry: Entry } | undefined {
    const entry = this.peek();
    if (!entry) return undefined;
    return { seq: this.next++, entry };
  }

  /** The entry the next take() returns, not consumed. */
  peek(): Entry | undefined {
    return this.entries[this.next - this.firstSeq];
  }

  nextSeq(): number {
    return this.next;
  }
}

/** Where each event starts: the event entries' seqs, ascending (an event is its entry and the values after it). */
export class EventIndex {
  readonly starts: number[] = [];

  constructor(
    readonly entries: readonly Entry[],
    readonly firstSeq: number,
  ) {
    entries.forEach((entry, i) => {
      if (isEvent(entry)) this.starts.push(firstSeq + i);
    });
  }

  get lastSeq(): number {
    return this.firstSeq + this.entries.length - 1;
  }

  entryAt(seq: number): Entry {
    const entry = this.entries[seq - this.firstSeq];
    assert(entry !== undefined, `no entry #${seq} in #${this.firstSeq}..#${this.lastSeq}`);
    return entry;
  }

  /** The index in `starts` of the event that contains entry #seq (a control entry belongs to the event before it); -1 before the first. */
  eventIndexOf(seq: number): number {
    let low = 0;
    let high = this.starts.length - 1;
    let found = -1;
    while (low <= high) {
      const mid = (low + high) >> 1;
      if (this.starts[mid] <= seq) {
        found = mid;
        low = mid + 1;
      } else {
        high = mid - 1;
      }
    }
    return found;
  }

  /** The last entry of event #index's own entries (its event entry and values; not the control entries after it). */
  eventEnd(index: number): number {
    const start = this.starts[index];
    let seq = start;
    while (seq < this.lastSeq && isValue(this.entryAt(seq + 1))) seq++;
    return seq;
  }

  eventAt(index: number): { seq: number; entry: EventEntry } {
    const seq = this.starts[index];
    return { seq, entry: this.entryAt(seq) as EventEntry };
  }
}

