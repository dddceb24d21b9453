// Exactly-once for requests carrying an Idempotency-Key. The store is replicated state: it changes
// only when a logged request is delivered and when the guest answers it, so it is the same on both
// sides and survives failover. Bounded, with first-in-first-out eviction (deterministic).

export interface StoredAnswer {
  status: number;
  headers: Record<string, string>;
  /** Text (sent as UTF-8) or bytes. */
  body: string | Uint8Array;
}

export type KeyState = { requestSeq: number; answer?: StoredAnswer; /** The gate seq of the answer: released once acknowledged. */ answerGateSeq?: number };

export const IDEMPOTENCY_KEYS_MAX = 100_000;
export const IDEMPOTENCY_KEY_CHARS_MAX = 200;

export class IdempotencyStore {
  private readonly byKey = new Map<string, KeyState>();
  private readonly keyBySeq = new Map<number, string>();

  constructor(private readonly keysMax = IDEMPOTENCY_KEYS_MAX) {}

  lookup(key: string): KeyState | undefined {
    return this.byKey.get(key);
  }

  /** A logged request with this key is being delivered as entry `requestSeq`. */
  register(key: string, requestSeq: number): void {
    if (this.byKey.has(key)) return;
    this.byKey.set(key, { requestSeq });
    this.keyBySeq.set(requestSeq, key);
    while (this.byKey.size > this.keysMax) {
      const [oldestKey, oldest] = this.byKey.entries().next().value as [string, KeyState];
      this.byKey.delete(oldestKey);
      this.keyBySeq.delete(oldest.requestSeq);
    }
  }

  /** The guest answered the request logged as `requestSeq`; returns its key, if it had one. */
  answer(requestSeq: number, answer: StoredAnswer, gateSeq: number): string | undefined {
    const key = this.keyBySeq.get(requestSeq);
    if (key === undefined) return undefined;
    this.keyBySeq.delete(requestSeq);
    const state = this.byKey.get(key);
    if (state) {
      state.answer = answer;
      state.answerGateSeq = gateSeq;
    }
    return key;
  }

  get size(): number {
    return this.byKey.size;
  }
}
