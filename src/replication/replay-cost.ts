// What the secondary has left to replay, in time rather than entries. The primary times each event
// as it runs it live (a replay costs about what the live event cost: the same guest code on the same
// inputs) and keeps a running total at every event boundary. The log it sends beyond what the
// secondary has replayed is bounded by that total, so the replay a go-live must finish first (the
// failover time) is bounded in milliseconds whatever the events cost: 4,096 cheap entries replay in
// a few ms, 4,096 CPU-heavy ones could take minutes.
import { performance } from 'node:perf_hooks';

/** Marks kept at most (oldest first out): a bound on memory whatever the secondary does. */
export const REPLAY_COST_MARKS_MAX = 100_000;

export class ReplayCost {
  /**
   * One mark per event boundary, ascending from `head` (those before it are forgotten: replayed, or
   * past the bound): the total live time through entry #seq. A head index, compacted now and then,
   * keeps each event O(1) where a slice per event copied up to REPLAY_COST_MARKS_MAX marks.
   */
  private marks: Array<{ seq: number; totalMs: number }> = [];
  private head = 0;
  private totalMs = 0;
  /** The total at the newest mark forgotten (what the secondary has replayed), so totals stay comparable. */
  private forgottenTotalMs = 0;
  private eventStartMs: number | undefined;

  /** An entry was logged: the event logging it started now, unless one is already running. */
  entryLogged(): void {
    this.eventStartMs ??= performance.now();
  }

  /** The running event ended with entry #seq. */
  eventEnded(seq: number): void {
    if (this.eventStartMs === undefined) return;
    this.totalMs += performance.now() - this.eventStartMs;
    this.eventStartMs = undefined;
    this.marks.push({ seq, totalMs: this.totalMs });
    if (this.marks.length - this.head > REPLAY_COST_MARKS_MAX) this.forgetCount(1);
  }

  /** The secondary replayed through #seq: its marks are no longer needed. */
  forgetThrough(seq: number): void {
    let drop = 0;
    while (this.head + drop < this.marks.length && this.marks[this.head + drop]!.seq <= seq) drop++;
    this.forgetCount(drop);
  }

  private forgetCount(count: number): void {
    if (count === 0) return;
    this.head += count;
    this.forgottenTotalMs = this.marks[this.head - 1]!.totalMs;
    if (this.head > 1024 && this.head * 2 > this.marks.length) {
      this.marks = this.marks.slice(this.head);
      this.head = 0;
    }
  }

  /**
   * The last entry that may be sent so that what follows #replayedSeq costs at most `boundMs` of
   * replay: the end of the last event that fits, at least the first event after it (one event may
   * exceed the bound alone). Infinity when everything logged fits. Totals ascend: a binary search.
   */
  sendableThrough(replayedSeq: number, boundMs: number): number {
    this.forgetThrough(replayedSeq);
    const limit = this.forgottenTotalMs + boundMs;
    const last = this.marks.length - 1;
    if (last < this.head || this.marks[last]!.totalMs <= limit) return Infinity;
    // The first mark past the limit: the event before it is the last that fits (or it goes alone).
    let lo = this.head;
    let hi = last;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.marks[mid]!.totalMs > limit) hi = mid;
      else lo = mid + 1;
    }
    return lo === this.head ? this.marks[lo]!.seq : this.marks[lo - 1]!.seq;
  }

  /** Estimated replay time of everything after #replayedSeq (status). */
  backlogMs(replayedSeq: number): number {
    this.forgetThrough(replayedSeq);
    return this.totalMs - this.forgottenTotalMs;
  }
}
