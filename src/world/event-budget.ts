// Bounds what one event may put into the log through the doorway, so one event always fits a log
// frame: past its clock-read budget the clock stops advancing (and is no longer logged) until the
// next event; past its entropy budget crypto.getRandomValues throws. Both sides count the same
// calls of the same program, so record and replay stop at exactly the same call.
import type { GuestWorld } from '../sandbox/guest.js';

/** Clock reads logged per event (~11 bytes each in the log). */
export const CLOCK_READS_PER_EVENT_MAX = 100_000;
/** Entropy bytes handed out (and logged) per event. */
export const RANDOM_BYTES_PER_EVENT_MAX = 1024 * 1024;

export class EventBudgetWorld implements GuestWorld {
  private clockReads = 0;
  private randomBytesGiven = 0;
  private lastNowMs = 0;

  constructor(public inner: GuestWorld) {}

  /** Called at the start of every event (and before boot). */
  beginEvent(): void {
    this.clockReads = 0;
    this.randomBytesGiven = 0;
  }

  now(): number {
    if (++this.clockReads > CLOCK_READS_PER_EVENT_MAX) return this.lastNowMs;
    this.lastNowMs = this.inner.now();
    return this.lastNowMs;
  }

  randomBytes(length: number): Uint8Array {
    if (this.randomBytesGiven + length > RANDOM_BYTES_PER_EVENT_MAX) {
      // A host function's exception becomes the guest's (quickjs-emscripten throws it into the VM).
      throw new RangeError(`crypto.getRandomValues: at most ${RANDOM_BYTES_PER_EVENT_MAX} bytes of entropy per event`);
    }
    this.randomBytesGiven += length;
    return this.inner.randomBytes(length);
  }
}
