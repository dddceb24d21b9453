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

/** An answer as JSON-safe data: a bytes body as base64. */
export type StoredAnswerData = { status: number; headers: Record<string, string>; body: string } | { status: number; headers: Record<string, string>; bodyBase64: string };

/** The store as plain (JSON-safe) data for a checkpoint, in insertion (eviction) order. */
export interface IdempotencyState {
  /** [key, requestSeq, answer or null, answerGateSeq or null]. */
  keys: Array<[string, number, StoredAnswerData | null, number | null]>;
  /** Requests not answered yet: [requestSeq, key]. */
  unanswered: Array<[number, string]>;
}

export const IDEMPOTENCY_KEYS_MAX = 100_000;
/** Bytes of keys and stored answers kept (answers can be large): past it the oldest keys go first. */
export const IDEMPOTENCY_BYTES_MAX = 64 * 1024 * 1024;
export const IDEMPOTENCY_KEY_CHARS_MAX = 200;

export class IdempotencyStore {
  private readonly byKey = new Map<string, KeyState>();
  private readonly keyBySeq = new Map<number, string>();
  /** Estimated bytes held (keys and answers): a function of the log alone, so the same on both sides. */
  private bytesHeld = 0;

  constructor(
    private readonly keysMax = IDEMPOTENCY_KEYS_MAX,
    private readonly bytesMax = IDEMPOTENCY_BYTES_MAX,
  ) {}

  lookup(key: string): KeyState | undefined {
    return this.byKey.get(key);
  }

  /** A logged request with this key is being delivered as entry `requestSeq`. */
  register(key: string, requestSeq: number): void {
    if (this.byKey.has(key)) return;
    this.byKey.set(key, { requestSeq });
    this.keyBySeq.set(requestSeq, key);
    this.bytesHeld += key.length;
    this.evict();
  }

  /** Oldest keys first, until both bounds hold (the newest key always stays). */
  private evict(): void {
    while (this.byKey.size > this.keysMax || (this.bytesHeld > this.bytesMax && this.byKey.size > 1)) {
      const [oldestKey, oldest] = this.byKey.entries().next().value as [string, KeyState];
      this.byKey.delete(oldestKey);
      this.keyBySeq.delete(oldest.requestSeq);
      this.bytesHeld -= oldestKey.length + (oldest.answer ? answerBytes(oldest.answer) : 0);
    }
  }

  /** Estimated bytes of keys and answers held. */
  get bytes(): number {
    return this.bytesHeld;
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
      this.bytesHeld += answerBytes(answer);
      this.evict();
    }
    return key;
  }

  exportState(): IdempotencyState {
    return {
      keys: [...this.byKey].map(([key, state]) => [key, state.requestSeq, state.answer ? answerData(state.answer) : null, state.answerGateSeq ?? null]),
      unanswered: [...this.keyBySeq],
    };
  }

  /** A store holding exactly what `state` was exported from. */
  static fromState(state: IdempotencyState, keysMax = IDEMPOTENCY_KEYS_MAX, bytesMax = IDEMPOTENCY_BYTES_MAX): IdempotencyStore {
    const store = new IdempotencyStore(keysMax, bytesMax);
    for (const [key, requestSeq, answer, answerGateSeq] of state.keys) {
      const entry: KeyState = { requestSeq };
      if (answer !== null) entry.answer = 'bodyBase64' in answer ? { status: answer.status, headers: answer.headers, body: new Uint8Array(Buffer.from(answer.bodyBase64, 'base64')) } : answer;
      if (answerGateSeq !== null) entry.answerGateSeq = answerGateSeq;
      store.byKey.set(key, entry);
      store.bytesHeld += key.length + (entry.answer ? answerBytes(entry.answer) : 0);
    }
    for (const [requestSeq, key] of state.unanswered) store.keyBySeq.set(requestSeq, key);
    return store;
  }

  get size(): number {
    return this.byKey.size;
  }
}

function answerData(answer: StoredAnswer): StoredAnswerData {
  const { status, headers, body } = answer;
  return typeof body === 'string' ? { status, headers, body } : { status, headers, bodyBase64: Buffer.from(body).toString('base64') };
}

function answerBytes(answer: StoredAnswer): number {
  let bytes = 16 + answer.body.length;
  for (const name of Object.keys(answer.headers)) bytes += name.length + answer.headers[name].length;
  return bytes;
}
