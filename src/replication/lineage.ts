// Which logs continue which. Every epoch's owner took its predecessor's log up to some entry (its
// fork point) and went on with its own entries: a primary that won the claim alone kept all of its
// log, a secondary that went live kept what it had replayed, a fresh start kept nothing. A follower
// holding entries #1..#H of epoch E's log holds a prefix of epoch C's log exactly when H is at most
// every fork point after E, up to C. The owner sends its fork points in the welcome, so a secondary
// can tell a link blip (same log, a new epoch) from another run's log without any shared storage.

/** Epoch `epoch`'s owner kept its predecessor's entries #1..#forkSeq, then logged its own. */
export interface Fork {
  epoch: number;
  forkSeq: number;
}

/** Fork points carried at most: a follower older than these is treated as another run's log (it starts fresh). */
export const LINEAGE_FORKS_MAX = 64;

export class Lineage {
  private constructor(readonly forks: readonly Fork[]) {}

  /** A fresh log that begins in `epoch` (nothing kept from before). */
  static startingAt(epoch: number): Lineage {
    return new Lineage([{ epoch, forkSeq: 0 }]);
  }

  /** The fork points a welcome carried (already validated as a list of integers by the channel). */
  static of(forks: readonly Fork[]): Lineage {
    return new Lineage(forks.slice(-LINEAGE_FORKS_MAX));
  }

  /** This log goes on in `epoch`, keeping entries #1..#forkSeq. */
  extend(epoch: number, forkSeq: number): Lineage {
    return Lineage.of([...this.forks.filter((f) => f.epoch < epoch), { epoch, forkSeq }]);
  }

  /** Is a log of `heldEpoch` holding #1..#heldSeq a prefix of this lineage's log in `epoch`? */
  continues(heldEpoch: number, heldSeq: number, epoch: number): boolean {
    if (heldSeq === 0 || heldEpoch === epoch) return true;
    if (heldEpoch > epoch || epoch - heldEpoch > LINEAGE_FORKS_MAX) return false;
    for (let e = heldEpoch + 1; e <= epoch; e++) {
      const fork = this.forks.find((f) => f.epoch === e);
      if (!fork || heldSeq > fork.forkSeq) return false;
    }
    return true;
  }
}
