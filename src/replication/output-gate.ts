// The output rule: an output may leave only after every log entry up to the one that produced it
// has been acknowledged by the secondary. Outputs wait here in order; execution goes on meanwhile.
import { assert } from '../assert.js';

export interface OutputGate {
  /** Calls `release` once the output may leave (at once, or when an ack covers `gateSeq`). */
  hold(gateSeq: number, release: () => void): void;
  /** Outputs waiting for an ack. */
  readonly waiting: number;
  /** True if an output gated on `gateSeq` has been released. */
  isReleased(gateSeq: number): boolean;
}

/** Unreplicated (`lockstep run`) or a primary alone after winning the claim: nothing to wait for. */
export class OpenGate implements OutputGate {
  readonly waiting = 0;
  isReleased(): boolean {
    return true;
  }
  hold(_gateSeq: number, release: () => void): void {
    release();
  }
}

/** Releases outputs in order as acknowledgements arrive. */
export class AckGate implements OutputGate {
  private readonly queue: Array<{ gateSeq: number; release: () => void }> = [];
  private head = 0;
  private ackedSeq = 0;
  /** Every output gated on an entry up to this one was released while the gate was open. */
  private releasedWhileOpenSeq = 0;
  private open = false;

  get waiting(): number {
    return this.queue.length - this.head;
  }

  isReleased(gateSeq: number): boolean {
    return this.open || gateSeq <= this.ackedSeq || gateSeq <= this.releasedWhileOpenSeq;
  }

  hold(gateSeq: number, release: () => void): void {
    if (this.open || gateSeq <= this.ackedSeq) {
      release();
      return;
    }
    this.queue.push({ gateSeq, release });
  }

  /** The secondary has acknowledged every entry up to `seq`. */
  ack(seq: number): void {
    if (seq <= this.ackedSeq) return;
    this.ackedSeq = seq;
    while (this.head < this.queue.length && this.queue[this.head].gateSeq <= seq) this.queue[this.head++].release();
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
  }

  /**
   * A secondary attached holding every entry up to `haveSeq` while our log ends at `lastSeq`: gate new
   * outputs on its acks again. Outputs up to `lastSeq` were released while open and stay released.
   */
  regate(haveSeq: number, lastSeq: number): void {
    assert(this.open && this.waiting === 0, 'regate only from an open gate (a secondary attaches to a primary alone)');
    this.open = false;
    this.releasedWhileOpenSeq = Math.max(this.releasedWhileOpenSeq, lastSeq);
    this.ackedSeq = haveSeq;
  }

  get isOpen(): boolean {
    return this.open;
  }

  /** The primary goes on alone (it won the claim): release everything, and gate nothing more. */
  openAll(): void {
    this.open = true;
    this.ack(Number.MAX_SAFE_INTEGER);
  }

  get acked(): number {
    return this.ackedSeq;
  }
}
