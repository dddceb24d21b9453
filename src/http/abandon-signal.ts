// "Nobody waits for this answer any more" (the response timed out, or the client went away), told
// to whoever holds something for the request. A plain listener list: an AbortController per request
// cost ~10% of a trivial request's CPU (abort() builds a DOMException with a stack trace).

/** What a handler may listen to; an AbortSignal fits it too (tests use one). */
export interface AbandonSignal {
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
}

export class Abandonment implements AbandonSignal {
  private listeners: Array<() => void> | undefined = [];

  addEventListener(_type: 'abort', listener: () => void): void {
    if (this.listeners) this.listeners.push(listener);
    else listener(); // already abandoned: as an aborted signal would, tell at once
  }

  /** Tells every listener, once; later calls do nothing. */
  abandon(): void {
    const listeners = this.listeners;
    if (!listeners) return;
    this.listeners = undefined;
    for (const listener of listeners) listener();
  }
}
