// Exactly-once state in process: a key is registered when its request is delivered, answered when
// the guest answers, looked up for a retry; past keysMax the oldest keys are evicted first.
import { describe, expect, it } from 'vitest';
import { IDEMPOTENCY_KEYS_MAX, IdempotencyStore, type StoredAnswer } from '../../src/engine/idempotency-store.js';

const answerOf = (n: number): StoredAnswer => ({ status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ n }) });

describe('IdempotencyStore', () => {
  it('registers a key with its request, then stores the answer and its gate seq', () => {
    const store = new IdempotencyStore();
    expect(store.lookup('k')).toBeUndefined();
    store.register('k', 5);
    expect(store.lookup('k')).toEqual({ requestSeq: 5 });
    expect(store.answer(5, answerOf(1), 9)).toBe('k');
    expect(store.lookup('k')).toEqual({ requestSeq: 5, answer: answerOf(1), answerGateSeq: 9 });
    expect(store.size).toBe(1);
  });

  it('answering a request that had no key changes nothing', () => {
    const store = new IdempotencyStore();
    store.register('k', 5);
    expect(store.answer(6, answerOf(1), 9)).toBeUndefined();
    expect(store.lookup('k')).toEqual({ requestSeq: 5 });
  });

  it('a repeated key keeps its first request and answer (a retry never re-executes)', () => {
    const store = new IdempotencyStore();
    store.register('k', 5);
    store.answer(5, answerOf(1), 9);
    store.register('k', 12);
    expect(store.lookup('k')).toEqual({ requestSeq: 5, answer: answerOf(1), answerGateSeq: 9 });
    // The retry's own request is not tied to the key: its answer does not overwrite the stored one.
    expect(store.answer(12, answerOf(2), 14)).toBeUndefined();
    expect(store.lookup('k')?.answer).toEqual(answerOf(1));
    // A second answer for the first request is ignored too (the key was already answered).
    expect(store.answer(5, answerOf(3), 15)).toBeUndefined();
    expect(store.size).toBe(1);
  });

  it('past keysMax evicts the oldest keys first, the same way every time', () => {
    const run = () => {
      const store = new IdempotencyStore(3);
      for (let seq = 1; seq <= 5; seq++) {
        store.register(`k${seq}`, seq);
        store.answer(seq, answerOf(seq), seq);
      }
      return store;
    };
    const store = run();
    expect(store.size).toBe(3);
    expect(store.lookup('k1')).toBeUndefined();
    expect(store.lookup('k2')).toBeUndefined();
    expect(store.lookup('k3')?.answer).toEqual(answerOf(3));
    expect(store.lookup('k5')?.answer).toEqual(answerOf(5));
    const again = run();
    expect(['k1', 'k2', 'k3', 'k4', 'k5'].map((k) => again.lookup(k))).toEqual(['k1', 'k2', 'k3', 'k4', 'k5'].map((k) => store.lookup(k)));
  });

  it('an evicted key still waiting for its answer is forgotten entirely (its answer is not stored)', () => {
    const store = new IdempotencyStore(2);
    store.register('a', 1);
    store.register('b', 2);
    store.register('c', 3);
    expect(store.lookup('a')).toBeUndefined();
    expect(store.answer(1, answerOf(1), 4)).toBeUndefined();
    expect(store.lookup('a')).toBeUndefined();
    expect(store.answer(2, answerOf(2), 5)).toBe('b');
    expect(store.size).toBe(2);
  });

  it('a re-registration does not refresh a key: eviction is by first delivery (FIFO, not LRU)', () => {
    const store = new IdempotencyStore(2);
    store.register('a', 1);
    store.register('b', 2);
    store.register('a', 3);
    store.register('c', 4);
    expect(store.lookup('a')).toBeUndefined();
    expect(store.lookup('b')).toEqual({ requestSeq: 2 });
    expect(store.lookup('c')).toEqual({ requestSeq: 4 });
  });

  it('goes past the default bound and stays at it', () => {
    const store = new IdempotencyStore();
    const extra = 10;
    for (let seq = 1; seq <= IDEMPOTENCY_KEYS_MAX + extra; seq++) store.register(`key-${seq}`, seq);
    expect(store.size).toBe(IDEMPOTENCY_KEYS_MAX);
    expect(store.lookup(`key-${extra}`)).toBeUndefined();
    expect(store.lookup(`key-${extra + 1}`)).toEqual({ requestSeq: extra + 1 });
    expect(store.lookup(`key-${IDEMPOTENCY_KEYS_MAX + extra}`)).toEqual({ requestSeq: IDEMPOTENCY_KEYS_MAX + extra });
  });
});

describe('IdempotencyStore byte bound', () => {
  it('keeps the held bytes under its bound, oldest keys first, and recomputes them from a checkpoint', () => {
    const store = new IdempotencyStore(1000, 10_000);
    const big = 'x'.repeat(3000);
    for (let i = 0; i < 10; i++) {
      store.register(`k${i}`, i + 1);
      store.answer(i + 1, { status: 200, headers: {}, body: big }, i + 1);
    }
    expect(store.bytes).toBeLessThanOrEqual(10_000);
    expect(store.size).toBe(3);
    expect(store.lookup('k0')).toBeUndefined();
    expect(store.lookup('k9')?.answer?.body).toBe(big);
    expect(IdempotencyStore.fromState(store.exportState(), 1000, 10_000).bytes).toBe(store.bytes);
  });
});
