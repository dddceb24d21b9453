// The output rule: an output may leave only after every log entry up to the one that produced it
// has been acknowledged by the secondary. Outputs wait here in order; execution goes on meanwhile.
import { assert } from '../assert.js';

export interface OutputGate {
  /** Calls `release` once the output may leave (at once, or when an ack covers `gateSeq`). */
  hold(gateSeq: number, release: () => void): void;
  /** Outputs waiting for an ack. */
  readonly waiting: number;
}

/** Unreplicated (`lockstep run`) or a primary alone after winning the claim: nothing to wait for. */
export class OpenGate implements OutputGate {
  readonly waiting = 0;
  hold(_gateSeq: number, release: () => void): void {
    release();
  }
}

/**
 * Releases outputs in order as acknowledgements arrive, and only while the lease holds (open, alone:
 * the arbiter's own lease, see PrimaryRole): an output
 * whose entries are all acknowledged (a stored answer to a re-asked key, say) still waits when the
 * lease has lapsed, since a successor may own the epoch by then. The owner calls `ack` again once
 * the lease is renewed.
 */
export class AckGate implements OutputGate {
  private readonly queue: Array<{ gateSeq: number; release: () => void }> = [];
  /** Outputs already covered by acks that arrived while the lease had lapsed, in arrival order. */
  private leaseWaiting: Array<() => void> = [];
  private head = 0;
  private ackedSeq = 0;
  private open = false;

  /**
   * `leaseHeld`: may an output leave right now (see PrimaryRole's lease)? `onLeaseWait`: an output
   * waits for the lease alone; the owner should call `ack` again once it is renewed.
   */
  constructor(
    private readonly leaseHeld: () => boolean = () => true,
    private readonly onLeaseWait: () => void = () => undefined,
  ) {}

  get waiting(): number {
    return this.queue.length - this.head + this.leaseWaiting.length;
  }

  hold(gateSeq: number, release: () => void): void {
    if (!this.open && gateSeq > this.ackedSeq) {
      this.queue.push({ gateSeq, release });
      return;
    }
    if (this.leaseHeld()) return release();
    this.leaseWaiting.push(release);
    this.onLeaseWait();
  }

  /** The secondary has acknowledged every entry up to `seq`; the caller holds the lease. */
  ack(seq: number): void {
    this.releaseLeaseWaiting();
    if (seq <= this.ackedSeq) return;
    this.ackedSeq = seq;
    while (this.head < this.queue.length && this.queue[this.head].gateSeq <= seq) this.queue[this.head++].release();
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
  }

  /**
   * A secondary attached holding every entry up to `haveSeq`: gate new outputs on its acks again.
   * A stored answer gated on an entry after `haveSeq` (released while open) waits for the secondary
   * to hold that entry too before it leaves again.
   */
  regate(haveSeq: number): void {
    assert(this.open && this.waiting === 0, 'regate only from an open gate (a secondary attaches to a primary alone)');
    this.open = false;
    this.ackedSeq = haveSeq;
  }

  private releaseLeaseWaiting(): void {
    const waiting = this.leaseWaiting;
    this.leaseWaiting = [];
    for (const release of waiting) release();
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
