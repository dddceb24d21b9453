// The live side of the doorway: reads the real clock and real entropy, and logs each value so a
// replayer can hand the guest exactly the same. The clock it hands out never goes backwards, even
// across a failover to a host whose clock is behind: it is at least the last value in the log.
import { randomFillSync } from 'node:crypto';
import type { ValueEntry } from '../log/entries.js';
import type { GuestWorld } from '../sandbox/guest.js';

export class LiveWorld implements GuestWorld {
  constructor(
    private readonly log: (entry: ValueEntry) => void,
    /** The newest clock value the guest has seen (logged), so time is continuous across go-live. */
    private lastNowMs = -Infinity,
  ) {}

  now(): number {
    const ms = Math.max(Date.now(), this.lastNowMs);
    this.lastNowMs = ms;
    this.log({ kind: 'now', ms });
    return ms;
  }

  get lastClockMs(): number {
    return this.lastNowMs;
  }

  randomBytes(length: number): Uint8Array {
    const bytes = randomFillSync(new Uint8Array(length));
    this.log({ kind: 'random', bytes });
    return bytes;
  }
}
