// The per-event doorway budget in process: past CLOCK_READS_PER_EVENT_MAX the clock stops advancing
// and is not asked (nor logged) until the next event; past RANDOM_BYTES_PER_EVENT_MAX entropy is
// refused with a RangeError; beginEvent() gives a fresh budget.
import { describe, expect, it } from 'vitest';
import type { GuestWorld } from '../../src/sandbox/guest.js';
import { CLOCK_READS_PER_EVENT_MAX, EventBudgetWorld, RANDOM_BYTES_PER_EVENT_MAX } from '../../src/world/event-budget.js';

/** An inner world whose clock ticks by 1 ms a read, counting what it was asked. */
class CountingWorld implements GuestWorld {
  clockReads = 0;
  randomBytesGiven = 0;
  now(): number {
    return 1_000 + ++this.clockReads;
  }
  randomBytes(length: number): Uint8Array {
    this.randomBytesGiven += length;
    return new Uint8Array(length).fill(7);
  }
}

describe('EventBudgetWorld', () => {
  it('passes clock reads through up to the budget, then holds the last value without asking the inner world', () => {
    const inner = new CountingWorld();
    const world = new EventBudgetWorld(inner);
    world.beginEvent();
    let last = 0;
    for (let i = 0; i < CLOCK_READS_PER_EVENT_MAX; i++) last = world.now();
    expect(last).toBe(1_000 + CLOCK_READS_PER_EVENT_MAX);
    expect(inner.clockReads).toBe(CLOCK_READS_PER_EVENT_MAX);
    for (let i = 0; i < 10; i++) expect(world.now()).toBe(last);
    expect(inner.clockReads).toBe(CLOCK_READS_PER_EVENT_MAX);

    world.beginEvent();
    expect(world.now()).toBe(last + 1);
    expect(inner.clockReads).toBe(CLOCK_READS_PER_EVENT_MAX + 1);
  });

  it('hands out entropy up to the budget, refuses a read past it with a RangeError, and resets at the next event', () => {
    const inner = new CountingWorld();
    const world = new EventBudgetWorld(inner);
    world.beginEvent();
    const half = RANDOM_BYTES_PER_EVENT_MAX / 2;
    expect(world.randomBytes(half)).toHaveLength(half);
    expect(world.randomBytes(half)).toHaveLength(half);
    expect(() => world.randomBytes(1)).toThrow(RangeError);
    expect(() => world.randomBytes(1)).toThrow(new RegExp(`at most ${RANDOM_BYTES_PER_EVENT_MAX} bytes`));
    expect(inner.randomBytesGiven).toBe(RANDOM_BYTES_PER_EVENT_MAX);

    world.beginEvent();
    expect(world.randomBytes(16)).toEqual(new Uint8Array(16).fill(7));
    expect(inner.randomBytesGiven).toBe(RANDOM_BYTES_PER_EVENT_MAX + 16);
  });

  it('a single read larger than the budget is refused whole (nothing is asked of the inner world)', () => {
    const inner = new CountingWorld();
    const world = new EventBudgetWorld(inner);
    world.beginEvent();
    expect(() => world.randomBytes(RANDOM_BYTES_PER_EVENT_MAX + 1)).toThrow(RangeError);
    expect(inner.randomBytesGiven).toBe(0);
    expect(world.randomBytes(RANDOM_BYTES_PER_EVENT_MAX)).toHaveLength(RANDOM_BYTES_PER_EVENT_MAX);
  });
});
