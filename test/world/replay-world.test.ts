// The replay side of the doorway in process: values come from the log in order; a mismatch is kept
// as a divergence naming the entry number, what the log held and what the guest asked for, and
// never thrown into the guest.
import { describe, expect, it } from 'vitest';
import { EntryQueue } from '../../src/engine/entry-queue.js';
import { DivergenceError } from '../../src/errors.js';
import type { Entry } from '../../src/log/entries.js';
import { ReplayWorld } from '../../src/world/replay-world.js';

/** A world replaying `entries`, numbered from #1, with the first `skip` already consumed (the event entries). */
function worldOver(entries: Entry[], skip = 0): { world: ReplayWorld; queue: EntryQueue } {
  const queue = new EntryQueue();
  queue.push(1, entries);
  for (let i = 0; i < skip; i++) queue.take();
  return { world: new ReplayWorld(queue), queue };
}

const bytes = (...values: number[]) => new Uint8Array(values);

describe('ReplayWorld', () => {
  it('hands the guest the logged values in order', () => {
    const { world, queue } = worldOver([{ kind: 'start' }, { kind: 'now', ms: 1000 }, { kind: 'random', bytes: bytes(1, 2, 3) }, { kind: 'now', ms: 1005 }], 1);
    expect(world.now()).toBe(1000);
    expect(world.randomBytes(3)).toEqual(bytes(1, 2, 3));
    expect(world.now()).toBe(1005);
    expect(world.divergence).toBeUndefined();
    expect(queue.nextSeq()).toBe(5);
  });

  it('keeps lastNowMs at the newest clock value handed out (where a live world goes on from)', () => {
    const { world } = worldOver([{ kind: 'now', ms: 50 }, { kind: 'now', ms: 40 }, { kind: 'now', ms: 70 }]);
    expect(world.lastNowMs).toBe(-Infinity);
    world.now();
    expect(world.lastNowMs).toBe(50);
    world.now();
    expect(world.lastNowMs).toBe(50);
    world.now();
    expect(world.lastNowMs).toBe(70);
  });

  it('a clock read where the log holds entropy is a divergence naming the entry and both sides', () => {
    const { world } = worldOver([{ kind: 'start' }, { kind: 'random', bytes: bytes(9, 9) }], 1);
    expect(() => world.now()).not.toThrow();
    const divergence = world.divergence;
    expect(divergence).toBeInstanceOf(DivergenceError);
    expect(divergence?.code).toBe('LOCKSTEP_DIVERGENCE');
    expect(divergence?.seq).toBe(2);
    expect(divergence?.logHolds).toBe('value random 2 bytes');
    expect(divergence?.guestAsked).toBe('value now (a clock read)');
    expect(divergence?.message).toContain('#2');
  });

  it('entropy of another length is a divergence at that entry', () => {
    const { world } = worldOver([{ kind: 'now', ms: 1 }, { kind: 'random', bytes: bytes(1, 2) }]);
    world.now();
    expect(world.randomBytes(4)).toEqual(new Uint8Array(4));
    expect(world.divergence?.seq).toBe(2);
    expect(world.divergence?.logHolds).toBe('value random 2 bytes');
    expect(world.divergence?.guestAsked).toBe('value random (4 bytes)');
  });

  it('asking past the end of the log is a divergence at the next entry number', () => {
    const { world } = worldOver([{ kind: 'start' }], 1);
    expect(world.randomBytes(8)).toEqual(new Uint8Array(8));
    expect(world.divergence?.seq).toBe(2);
    expect(world.divergence?.logHolds).toContain('nothing more');
    expect(world.divergence?.guestAsked).toBe('value random (8 bytes)');
  });

  it('asking for a value where the log holds the next event is a divergence, not a skip', () => {
    const { world } = worldOver([{ kind: 'start' }, { kind: 'timer', timerId: 3 }], 1);
    expect(world.now()).toBe(0);
    expect(world.divergence?.seq).toBe(2);
    expect(world.divergence?.logHolds).toBe('event timer #3');
  });

  it('after a divergence it keeps the first one, consumes nothing more and never throws', () => {
    const { world, queue } = worldOver([{ kind: 'random', bytes: bytes(1) }, { kind: 'now', ms: 5 }, { kind: 'now', ms: 6 }]);
    world.now();
    const first = world.divergence;
    const consumed = queue.nextSeq();
    for (let i = 0; i < 5; i++) {
      expect(world.now()).toBe(0);
      expect(world.randomBytes(2)).toEqual(new Uint8Array(2));
    }
    expect(world.divergence).toBe(first);
    expect(world.divergence?.seq).toBe(1);
    expect(queue.nextSeq()).toBe(consumed);
  });
});
