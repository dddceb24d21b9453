// The replay backlog in time: the log sent beyond what the secondary replayed is bounded by what its
// events cost live, whole events, at least one.
import { describe, expect, it } from 'vitest';
import { REPLAY_COST_MARKS_MAX, ReplayCost } from '../../src/replication/replay-cost.js';

/** Marks events ending at `seqs`, each costing about `ms` of real time. */
function events(cost: ReplayCost, seqs: number[], ms: number): void {
  for (const seq of seqs) {
    cost.entryLogged();
    const until = performance.now() + ms;
    while (performance.now() < until);
    cost.eventEnded(seq);
  }
}

describe('ReplayCost', () => {
  it('sends whole events up to the bound beyond what was replayed, at least one, and everything when it all fits', () => {
    const cost = new ReplayCost();
    events(cost, [2, 4, 6, 8], 20);
    expect(cost.sendableThrough(0, 1000)).toBe(Infinity);
    const through = cost.sendableThrough(0, 50); // two events of ~20 ms fit, the third would not (timing is coarse: 1-3)
    expect([2, 4, 6]).toContain(through);
    expect(cost.sendableThrough(0, 1)).toBe(2); // one event alone exceeds the bound: it still goes
    expect(cost.sendableThrough(6, 1)).toBe(8); // what was replayed no longer counts
    expect(cost.backlogMs(8)).toBe(0);
  });

  it('keeps marks while alone too, so a secondary that reconnects holding unreplayed entries is bounded from the start', () => {
    const cost = new ReplayCost();
    events(cost, [1, 2, 3], 20);
    expect(cost.backlogMs(0)).toBeGreaterThan(40);
    expect(cost.sendableThrough(0, 30)).toBe(1); // one event alone beyond what was replayed
    expect(cost.backlogMs(3)).toBe(0);
  });

  it('keeps at most REPLAY_COST_MARKS_MAX marks (oldest out), and still answers past them', () => {
    const cost = new ReplayCost();
    const n = REPLAY_COST_MARKS_MAX + 5000;
    for (let seq = 1; seq <= n; seq++) {
      cost.entryLogged();
      cost.eventEnded(seq);
    }
    // The oldest 5,000 were forgotten as if replayed: when nothing fits, the first kept event still goes.
    expect(cost.sendableThrough(0, -1)).toBe(5001);
    expect(cost.sendableThrough(0, Number.MAX_SAFE_INTEGER)).toBe(Infinity);
    expect(cost.backlogMs(n)).toBe(0);
  });
});
