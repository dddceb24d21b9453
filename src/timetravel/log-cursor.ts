// Walking a recorded log for time travel: a replay source that can start at any entry (replay is
// restarted many times over the same log), and the event structure around an entry (an event is its
// event entry and the value entries after it; a control entry belongs to the event before it).
import { assert } from '../assert.js';
import { isEvent, isValue, type Entry } from '../log/entries.js';
import type { EntrySource } from '../world/replay-world.js';

/** Entries #firstSeq..#lastSeq by number (a lazily decoded log file: lazy-log.ts). */
export interface EntryLookup {
  readonly firstSeq: number;
  readonly lastSeq: number;
  /** Undefined outside #firstSeq..#lastSeq. */
  entryAt(seq: number): Entry | undefined;
}

export class LogCursor implements EntrySource {
  private next: number;

  /** The first take() returns entry #startSeq. */
  constructor(
    private readonly log: EntryLookup,
    startSeq: number,
  ) {
    assert(startSeq >= log.firstSeq && startSeq <= log.lastSeq + 1, `a cursor over #${log.firstSeq}..#${log.lastSeq} cannot start at #${startSeq}`);
    this.next = startSeq;
  }

  take(): { seq: number; entry: Entry } | undefined {
    const entry = this.peek();
    if (!entry) return undefined;
    return { seq: this.next++, entry };
  }

  /** The entry the next take() returns, not consumed. */
  peek(): Entry | undefined {
    return this.log.entryAt(this.next);
  }

  nextSeq(): number {
    return this.next;
  }
}

/** Where events start and end around an entry, found by looking at the entries nearby. */
export class EventIndex {
  constructor(readonly log: EntryLookup) {}

  private entry(seq: number): Entry {
    const entry = this.log.entryAt(seq);
    assert(entry !== undefined, `no entry #${seq} in #${this.log.firstSeq}..#${this.log.lastSeq}`);
    return entry;
  }

  /** The seq of the event entry of the event that contains entry #seq; undefined before the first event (the start of a cut log). */
  eventStartOf(seq: number): number | undefined {
    for (let s = seq; s >= this.log.firstSeq; s--) if (isEvent(this.entry(s))) return s;
    return undefined;
  }

  /** The last of the event's own entries (its event entry and values; not the control entries after it). */
  eventEnd(start: number): number {
    let seq = start;
    while (seq < this.log.lastSeq && isValue(this.entry(seq + 1))) seq++;
    return seq;
  }

  /** The first event entry after entry #seq. */
  nextEvent(seq: number): number | undefined {
    for (let s = seq + 1; s <= this.log.lastSeq; s++) if (isEvent(this.entry(s))) return s;
    return undefined;
  }

  /** The last event entry before entry #seq. */
  prevEvent(seq: number): number | undefined {
    return seq - 1 >= this.log.firstSeq ? this.eventStartOf(seq - 1) : undefined;
  }
}
