// Requests that arrive in one turn of the event loop go to the guest together, in arrival order,
// once that turn's I/O is read (setImmediate). Run back to back, the guest's interpreter and heap
// stay in the CPU caches: interleaved with HTTP parsing, one trivial event cost ~2x as much.
// A batch holds at most one request per connection (node:http parses the next request of a
// connection only after the previous one's answer), so it needs no bound of its own.

export class RequestBatch {
  private pending: Array<() => void> = [];
  private scheduled = false;

  /** Runs `start` after the I/O of this turn, with the other requests of the turn, in order. */
  add(start: () => void): void {
    this.pending.push(start);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.run());
  }

  private run(): void {
    this.scheduled = false;
    const batch = this.pending;
    this.pending = [];
    for (const start of batch) start();
  }
}
