// Declares a peer silent when no frame of any kind arrived for timeoutMs. It only reports:
// what to do about a silent peer (claim, go live, go on alone) is the replication layer's call.
// One timer, re-armed for the time left, so a busy link costs no timer churn per frame.

export class FailureDetector {
  private timer: NodeJS.Timeout | undefined;
  private lastTouchMs: number;
  private fired = false;

  constructor(
    private readonly timeoutMs: number,
    private readonly onSilent: () => void,
    /** Monotonic milliseconds; replaceable for tests with fake timers. */
    private readonly now: () => number = () => performance.now(),
  ) {
    this.lastTouchMs = now();
    this.arm(timeoutMs);
  }

  /** A frame arrived: the peer is alive for another timeoutMs. */
  touch(): void {
    this.lastTouchMs = this.now();
  }

  private arm(delayMs: number): void {
    this.timer = setTimeout(() => this.check(), Math.max(1, delayMs));
  }

  private check(): void {
    if (this.fired) return;
    const left = this.timeoutMs - (this.now() - this.lastTouchMs);
    if (left > 0) return this.arm(left);
    // Our own event loop may have stalled past the timeout with the peer's frames already waiting in
    // the socket: let the poll phase read them (setImmediate runs after it) before giving a verdict.
    setImmediate(() => {
      if (this.fired) return;
      const stillLeft = this.timeoutMs - (this.now() - this.lastTouchMs);
      if (stillLeft > 0) return this.arm(stillLeft);
      // Once: a late frame after the verdict must not make the caller act twice.
      this.fired = true;
      this.onSilent();
    });
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.fired = true;
  }
}
