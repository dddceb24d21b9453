// Which logs continue which: a follower holding #1..#H of epoch E's log holds a prefix of epoch C's
// log exactly when H is at most every fork point after E, up to C.
import { describe, expect, it } from 'vitest';
import { Lineage, LINEAGE_FORKS_MAX } from '../../src/replication/lineage.js';

describe('Lineage', () => {
  it('a primary that went on alone keeps its whole log: a follower of the old epoch continues it', () => {
    const lineage = Lineage.startingAt(0).extend(1, 500); // it won epoch 1 holding #500
    expect(lineage.continues(0, 480, 1)).toBe(true);
    expect(lineage.continues(0, 500, 1)).toBe(true);
  });

  it('a secondary that went live kept only what it had replayed: a follower holding more of the old log does not continue it', () => {
    const lineage = Lineage.startingAt(0).extend(1, 300); // the new owner replayed #1..#300
    expect(lineage.continues(0, 301, 1)).toBe(false);
    expect(lineage.continues(0, 300, 1)).toBe(true);
  });

  it('a fresh start keeps nothing: only an empty follower continues it', () => {
    const lineage = Lineage.startingAt(3);
    expect(lineage.continues(2, 1, 3)).toBe(false);
    expect(lineage.continues(2, 0, 3)).toBe(true);
    expect(lineage.continues(3, 10, 3)).toBe(true);
  });

  it('checks every fork point between the two epochs, and refuses what it cannot check', () => {
    const lineage = Lineage.startingAt(0).extend(1, 100).extend(2, 40).extend(3, 900);
    expect(lineage.continues(0, 40, 3)).toBe(true);
    expect(lineage.continues(0, 41, 3)).toBe(false); // epoch 2 kept only #1..#40
    expect(lineage.continues(2, 800, 3)).toBe(true);
    expect(lineage.continues(4, 1, 3)).toBe(false); // a later epoch than the primary's: never follow back
    let long = Lineage.startingAt(0);
    for (let e = 1; e <= LINEAGE_FORKS_MAX + 10; e++) long = long.extend(e, 1000);
    expect(long.forks.length).toBe(LINEAGE_FORKS_MAX);
    expect(long.continues(1, 5, LINEAGE_FORKS_MAX + 10)).toBe(false); // its fork points were dropped
    expect(long.continues(LINEAGE_FORKS_MAX, 5, LINEAGE_FORKS_MAX + 10)).toBe(true);
  });
});
