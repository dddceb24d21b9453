// Declares a peer silent when no frame of any kind arrived for timeoutMs. It only reports:
// what to do about a silent peer (claim, go live, go on alone) is the replication layer's call.

export class FailureDetector {
  private timer: NodeJS.Timeout | undefined;
  private fired = false;

  constructor(
    private readonly timeoutMs: number,
    private readonly onSilent: () => void,
  ) {
    this.touch();
  }

  /** A frame arrived: the peer is alive for another timeoutMs. */
  touch(): void {
    if (this.fired) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      // Once: a late frame after the verdict must not make the caller act twice.
      this.fired = true;
      this.onSilent();
    }, this.timeoutMs);
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.fired = true;
  }
}
