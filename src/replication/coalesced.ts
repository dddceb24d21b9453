// Work asked for many times in a turn that should run once, a little later (a pump after a burst of
// entries, a replay slice after a burst of batches): `request()` as often as wanted, `run` once per `defer`.
export class Coalesced {
  private pending = false;

  constructor(
    private readonly run: () => void,
    /** queueMicrotask: at the next event boundary; setImmediate: after the I/O of this loop turn. */
    private readonly defer: (callback: () => void) => void,
  ) {}

  request(): void {
    if (this.pending) return;
    this.pending = true;
    this.defer(() => {
      this.pending = false;
      this.run();
    });
  }
}
