// The live side of the doorway in process: every value handed to the guest is logged, and its clock
// never goes back before the last value in the log (time is continuous across go-live, even to a
// host whose clock is behind).
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ValueEntry } from '../../src/log/entries.js';
import { LiveWorld } from '../../src/world/live-world.js';

function recording(lastNowMs?: number): { world: LiveWorld; logged: ValueEntry[] } {
  const logged: ValueEntry[] = [];
  return { world: new LiveWorld((entry) => logged.push(entry), lastNowMs), logged };
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('LiveWorld', () => {
  it('logs every clock read and every entropy read, with the very value handed out, in order', () => {
    const { world, logged } = recording();
    const first = world.now();
    const random = world.randomBytes(16);
    const second = world.now();
    expect(random).toHaveLength(16);
    expect(logged).toEqual([
      { kind: 'now', ms: first },
      { kind: 'random', bytes: random },
      { kind: 'now', ms: second },
    ]);
    expect(logged[1].kind === 'random' && logged[1].bytes).toBe(random);
    expect(world.lastClockMs).toBe(second);
  });

  it('reads the host clock when it is ahead of the log', () => {
    vi.spyOn(Date, 'now').mockReturnValue(5_000);
    const { world, logged } = recording(4_000);
    expect(world.now()).toBe(5_000);
    expect(logged).toEqual([{ kind: 'now', ms: 5_000 }]);
  });

  it('never returns less than the lastNowMs it was given, though the host clock is behind', () => {
    const clock = vi.spyOn(Date, 'now').mockReturnValue(1_000);
    const { world, logged } = recording(9_000);
    expect(world.now()).toBe(9_000);
    clock.mockReturnValue(8_999);
    expect(world.now()).toBe(9_000);
    clock.mockReturnValue(9_010);
    expect(world.now()).toBe(9_010);
    // And never back before what it has handed out itself since.
    clock.mockReturnValue(2_000);
    expect(world.now()).toBe(9_010);
    expect(logged.map((e) => (e.kind === 'now' ? e.ms : -1))).toEqual([9_000, 9_000, 9_010, 9_010]);
    expect(world.lastClockMs).toBe(9_010);
  });

  it('gives fresh entropy on each read', () => {
    const { world } = recording();
    expect(Buffer.from(world.randomBytes(32)).equals(Buffer.from(world.randomBytes(32)))).toBe(false);
  });
});
