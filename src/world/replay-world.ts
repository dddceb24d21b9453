// The replay side of the doorway: every value the guest asks for comes from the log, in order.
// It never throws into the guest (an exception inside a wasm import or a host function could be
// swallowed by guest code); a mismatch is kept as `divergence` and the executor stops on it.
import { DivergenceError } from '../errors.js';
import { describeEntry, type Entry } from '../log/entries.js';
import type { GuestWorld } from '../sandbox/guest.js';

/** Where the replayer reads the values of the current event from. */
export interface EntrySource {
  /** The next entry and its seq, consumed; undefined if the log holds nothing more. */
  take(): { seq: number; entry: Entry } | undefined;
  /** The seq the next take() would return. */
  nextSeq(): number;
}

export class ReplayWorld implements GuestWorld {
  divergence: DivergenceError | undefined;

  constructor(private readonly source: EntrySource) {}

  /** The newest clock value handed to the guest: a live world goes on from it. */
  lastNowMs = -Infinity;

  now(): number {
    const next = this.expect('now', 'value now (a clock read)');
    if (next?.kind !== 'now') return 0;
    this.lastNowMs = Math.max(this.lastNowMs, next.ms);
    return next.ms;
  }

  randomBytes(length: number): Uint8Array {
    const next = this.expect('random', `value random (${length} bytes)`);
    if (next?.kind === 'random' && next.bytes.length === length) return next.bytes;
    if (next?.kind === 'random' && !this.divergence) {
      this.divergence = new DivergenceError(this.source.nextSeq() - 1, describeEntry(next), `value random (${length} bytes)`);
    }
    return new Uint8Array(length);
  }

  private expect(kind: 'now' | 'random', asked: string): Entry | undefined {
    if (this.divergence) return undefined;
    const seq = this.source.nextSeq();
    const next = this.source.take();
    if (!next) {
      this.divergence = new DivergenceError(seq, 'nothing more (the log ends here)', asked);
      return undefined;
    }
    if (next.entry.kind !== kind) {
      this.divergence = new DivergenceError(next.seq, describeEntry(next.entry), asked);
      return undefined;
    }
    return next.entry;
  }
}
