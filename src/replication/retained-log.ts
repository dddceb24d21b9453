// The log this node keeps so a secondary that joins late (or a fresh one after failover) can
// catch up: from the newest checkpoint on (older entries are dropped once a checkpoint covers them).
// Bounded: past `retainedEntriesMax` or `bytesMax` the oldest entries are dropped even without one,
// and a secondary that would need them gets the newest checkpoint or a clear refusal, never a log
// with a hole. It knows each entry's approximate size, so batches and flow control are bounded in bytes.
// New entries are held as objects (the pump ships them within a microtask); older ones are sealed
// into encoded segments. Ten thousand entry objects that live until the next checkpoint outlive V8's
// young generation and then die in the old one, which grew by tens of MB between major collections:
// the primary's RSS swung by a third under load. Sealed, they are a few Buffers.
import { isValue, type Entry } from '../log/entries.js';
import { decodeBatch, encodeBatch } from '../log/codec.js';
import { assert } from '../assert.js';

export const RETAINED_ENTRIES_MAX = 5_000_000;
/**
 * Estimated log bytes kept in memory. Past it the oldest entries go (a secondary that would need them
 * is refused with LOCKSTEP_CHANNEL_HISTORY), so a long run's memory stays bounded instead of growing
 * until the process dies; re-protection from a checkpoint (issue 9) is what lifts this.
 */
export const RETAINED_BYTES_MAX = 512 * 1024 * 1024;
/** Drop a little more than needed each time, so trimming costs amortized O(1) per entry. */
const TRIM_SLACK = 0.05;
/** Entries per sealed segment; the newest SEGMENT_ENTRIES to 2 x SEGMENT_ENTRIES stay objects. */
export const SEGMENT_ENTRIES = 256;

/** Entries #firstSeq.. encoded as one log batch (the channel's own encoding). */
interface Segment {
  firstSeq: number;
  count: number;
  bytes: Uint8Array;
}

/** A cheap upper-ish estimate of an entry's encoded size (strings count one byte a char). */
export function entryBytesEstimate(entry: Entry): number {
  switch (entry.kind) {
    case 'request': {
      let bytes = 16 + entry.method.length + entry.path.length + entry.body.length;
      for (const [name, value] of entry.headers) bytes += 4 + name.length + value.length;
      return bytes;
    }
    case 'read':
      return 12 + (entry.ok ? entry.data.length : entry.error.length);
    case 'write':
      return 8 + (entry.ok ? 0 : entry.error.length);
    case 'random':
      return 6 + entry.bytes.length;
    case 'stop':
      return 4 + entry.reason.length;
    case 'check':
      return 30;
    default:
      return 11;
  }
}

export class RetainedLog {
  /** Sealed entries, oldest first; the first may begin before firstSeq (its head was dropped). */
  private segments: Segment[] = [];
  /** The newest entries, as objects: #tailFirstSeq..#lastSeq. */
  private tail: Entry[] = [];
  private tailFirstSeq: number;
  /** cumulativeBytes[i]: estimated bytes of every entry up to and including entry #firstSeq+i, since #1. */
  private cumulativeBytes: number[] = [];
  /** Seq of the oldest entry held. */
  private firstSeq = 1;
  private bytesBeforeFirst = 0;
  /** The segment decoded last (a chunk or get() reads one segment many times in a row). */
  private decoded: { segment: Segment; entries: Entry[] } | undefined;

  constructor(
    private readonly entriesMax = RETAINED_ENTRIES_MAX,
    private readonly bytesMax = RETAINED_BYTES_MAX,
    /** The first entry it will hold (after a checkpoint of the state after #firstSeq-1, the one after it). */
    firstSeq = 1,
  ) {
    this.firstSeq = firstSeq;
    this.tailFirstSeq = firstSeq;
  }

  /**
   * Drops every entry up to `seq` (they are covered by a checkpoint of the state after it). Entries
   * after the newest one are never dropped: at least the log's end stays.
   */
  dropThrough(seq: number): void {
    const drop = Math.min(seq, this.lastSeq - 1) - this.firstSeq + 1;
    if (drop <= 0) return;
    this.bytesBeforeFirst = this.cumulativeBytes[drop - 1];
    this.cumulativeBytes = this.cumulativeBytes.slice(drop);
    this.firstSeq += drop;
    const firstKept = this.segments.findIndex((segment) => segment.firstSeq + segment.count > this.firstSeq);
    this.segments = firstKept < 0 ? [] : this.segments.slice(firstKept);
    if (this.firstSeq > this.tailFirstSeq) {
      this.tail = this.tail.slice(this.firstSeq - this.tailFirstSeq);
      this.tailFirstSeq = this.firstSeq;
    }
    if (this.decoded && !this.segments.includes(this.decoded.segment)) this.decoded = undefined;
  }

  append(seq: number, entry: Entry): void {
    assert(seq === this.lastSeq + 1, `retained log: got #${seq} after #${this.lastSeq}`);
    this.tail.push(entry);
    this.cumulativeBytes.push(this.bytesThrough(this.lastSeq - 1) + entryBytesEstimate(entry));
    if (this.tail.length >= 2 * SEGMENT_ENTRIES) this.seal();
    if (this.entryCount > this.entriesMax || this.retainedBytes > this.bytesMax) this.trim();
  }

  /** The oldest SEGMENT_ENTRIES objects of the tail become one encoded segment. */
  private seal(): void {
    const sealed = this.tail.slice(0, SEGMENT_ENTRIES);
    this.segments.push({ firstSeq: this.tailFirstSeq, count: sealed.length, bytes: encodeBatch(this.tailFirstSeq, sealed) });
    this.tail = this.tail.slice(SEGMENT_ENTRIES);
    this.tailFirstSeq += SEGMENT_ENTRIES;
  }

  private get entryCount(): number {
    return this.lastSeq - this.firstSeq + 1;
  }

  /** Estimated bytes of the entries held. */
  get retainedBytes(): number {
    return this.entryCount === 0 ? 0 : this.cumulativeBytes[this.entryCount - 1] - this.bytesBeforeFirst;
  }

  /** Drops the oldest entries until both bounds hold with some slack; the newest entry always stays. */
  private trim(): void {
    const count = this.entryCount;
    const entriesTarget = this.entriesMax - Math.floor(this.entriesMax * TRIM_SLACK);
    const bytesTarget = this.bytesMax * (1 - TRIM_SLACK);
    let drop = Math.max(0, count - entriesTarget);
    const total = this.cumulativeBytes[count - 1];
    const keptIfDropped = (d: number) => total - (d === 0 ? this.bytesBeforeFirst : this.cumulativeBytes[d - 1]);
    while (drop < count - 1 && keptIfDropped(drop) > bytesTarget) drop++;
    if (drop > 0) this.dropThrough(this.firstSeq + drop - 1);
  }

  get lastSeq(): number {
    return this.tailFirstSeq + this.tail.length - 1;
  }

  get retainedFrom(): number {
    return this.firstSeq;
  }

  get(seq: number): Entry {
    assert(seq >= this.firstSeq && seq <= this.lastSeq, `retained log has no #${seq}`);
    if (seq >= this.tailFirstSeq) return this.tail[seq - this.tailFirstSeq];
    const segment = this.segmentOf(seq);
    return this.entriesOf(segment)[seq - segment.firstSeq];
  }

  /** The sealed segment holding #seq (binary search: segments are in order and contiguous). */
  private segmentOf(seq: number): Segment {
    let [lo, hi] = [0, this.segments.length - 1];
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.segments[mid].firstSeq <= seq) lo = mid;
      else hi = mid - 1;
    }
    return this.segments[lo];
  }

  private entriesOf(segment: Segment): Entry[] {
    if (this.decoded?.segment !== segment) this.decoded = { segment, entries: decodeBatch(segment.bytes).entries };
    return this.decoded.entries;
  }

  /** Estimated bytes of entries #1..#seq (seq may be just before the retained range). */
  bytesThrough(seq: number): number {
    if (seq < this.firstSeq) return this.bytesBeforeFirst;
    return this.cumulativeBytes[Math.min(seq, this.lastSeq) - this.firstSeq];
  }

  /** Estimated bytes of the entries after `seq` (e.g. not yet acknowledged). */
  bytesAfter(seq: number): number {
    return this.bytesThrough(this.lastSeq) - this.bytesThrough(seq);
  }

  /**
   * Entries from `fromSeq`: at most about `countMax` of them and `bytesMax` bytes (at least one whole
   * event), extended to the end of an event so a replayer never holds half an event (the log's end is
   * always an event boundary when this is called).
   */
  chunk(fromSeq: number, countMax: number, bytesMax = Infinity): Entry[] {
    assert(fromSeq >= this.firstSeq, `retained log: asked for #${fromSeq} but it keeps entries only from #${this.firstSeq}`);
    if (fromSeq > this.lastSeq) return [];
    const base = this.bytesThrough(fromSeq - 1);
    let end = fromSeq;
    while (end < this.lastSeq && end - fromSeq + 1 < countMax && this.bytesThrough(end + 1) - base <= bytesMax) end++;
    while (end < this.lastSeq && isValue(this.get(end + 1))) end++;
    return this.range(fromSeq, end);
  }

  /** Entries #from..#to, decoding each sealed segment they touch once. */
  private range(from: number, to: number): Entry[] {
    if (from >= this.tailFirstSeq) return this.tail.slice(from - this.tailFirstSeq, to - this.tailFirstSeq + 1);
    const out: Entry[] = [];
    for (let seq = from; seq <= to && seq < this.tailFirstSeq; ) {
      const segment = this.segmentOf(seq);
      const entries = this.entriesOf(segment);
      const until = Math.min(to, segment.firstSeq + segment.count - 1);
      for (; seq <= until; seq++) out.push(entries[seq - segment.firstSeq]);
    }
    if (to >= this.tailFirstSeq) out.push(...this.tail.slice(0, to - this.tailFirstSeq + 1));
    return out;
  }
}
