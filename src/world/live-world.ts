// The live side of the doorway: reads the real clock and real entropy, and logs each value so a
// replayer can hand the guest exactly the same.
import { randomFillSync } from 'node:crypto';
import type { ValueEntry } from '../log/entries.js';
import type { GuestWorld } from '../sandbox/guest.js';

export class LiveWorld implements GuestWorld {
  constructor(private readonly log: (entry: ValueEntry) => void) {}

  now(): number {
    const ms = Date.now();
    this.log({ kind: 'now', ms });
    return ms;
  }

  randomBytes(length: number): Uint8Array {
    const bytes = randomFillSync(new Uint8Array(length));
    this.log({ kind: 'random', bytes });
    return bytes;
  }
}
