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
  /** One mark per event boundary not yet replayed, ascending: the total live time through entry #seq. */
  private marks: Array<{ seq: number; totalMs: number }> = [];
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
    if (this.marks.length > REPLAY_COST_MARKS_MAX) this.forgetThrough(this.marks[this.marks.length - REPLAY_COST_MARKS_MAX - 1]!.seq);
  }

  /** The secondary replayed through #seq: its marks are no longer needed. */
  forgetThrough(seq: number): void {
    let drop = 0;
    while (drop < this.marks.length && this.marks[drop]!.seq <= seq) drop++;
    if (drop === 0) return;
    this.forgottenTotalMs = this.marks[drop - 1]!.totalMs;
    this.marks = this.marks.slice(drop);
  }

  /**
   * The last entry that may be sent so that what follows #replayedSeq costs at most `boundMs` of
   * replay: the end of the last event that fits, at least the first event after it (one event may
   * exceed the bound alone). Infinity when everything logged fits.
   */
  sendableThrough(replayedSeq: number, boundMs: number): number {
    this.forgetThrough(replayedSeq);
    let through = Infinity;
    for (let i = this.marks.length - 1; i >= 0; i--) {
      const mark = this.marks[i]!;
      if (mark.totalMs - this.forgottenTotalMs <= boundMs) return through;
      through = i === 0 ? mark.seq : this.marks[i - 1]!.seq;
    }
    return through;
  }

  /** Estimated replay time of everything after #replayedSeq (status). */
  backlogMs(replayedSeq: number): number {
    this.forgetThrough(replayedSeq);
    return this.totalMs - this.forgottenTotalMs;
  }
}
