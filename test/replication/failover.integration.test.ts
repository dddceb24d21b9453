// Failover under continuous load: fresh pairs whose primary is SIGKILLed at a seeded random moment
// (200-1200 ms into the load), then the promoted node, protected again by a fresh secondary, is
// killed in turn (chains of 5 kills per pair); every kill is checked against what the failover-aware client was told:
// nothing lost, no key given two answers, the survivor's count equals the answered keys, and no
// two keys were told the same count. Reproduce a run with LOCKSTEP_SEED=<the printed SEED>.
import { randomInt } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt } from './helpers.js';
import { killLoop, type KillResult } from './kill-loop.js';

const SEED = Number(process.env.LOCKSTEP_SEED ?? randomInt(2 ** 31));
const KILLS = Number(process.env.LOCKSTEP_KILLS ?? 20);
// Two kill loops side by side (one per core); each pair is independent.
const LOOPS = 2;

beforeAll(() => {
  assertBuilt();
  console.log(`SEED=${SEED} (failover kill points; rerun with LOCKSTEP_SEED=${SEED})`);
});

describe('failover under load (SIGKILL of the primary)', () => {
  it(`loses nothing and answers every key once over ${KILLS} kills`, { timeout: 120_000 }, async () => {
    const per = Math.ceil(KILLS / LOOPS);
    const results: KillResult[] = (
      await Promise.all(
        Array.from({ length: LOOPS }, (_, loop) =>
          killLoop({
            seed: SEED + loop * 1_000_003,
            chain: 5,
            kills: per,
            onResult: (r) => {
              if (r.problems.length > 0 || process.env.LOCKSTEP_TEST_VERBOSE) console.log(`loop ${loop} kill ${r.kill} (pair ${r.pair}) at ${r.killAtMs} ms: ${JSON.stringify(r)}`);
            },
          }),
        ),
      )
    ).flat();
    const total = (f: (r: KillResult) => number) => results.reduce((s, r) => s + f(r), 0);
    console.log(
      `SEED=${SEED} kills=${results.length} keys sent=${total((r) => r.sent)} answered=${total((r) => r.answered)} ` +
        `lost=${total((r) => Math.max(0, r.lost))} duplicates=${total((r) => Math.max(0, r.duplicates))} ` +
        `failover ms (kill -> live) max=${Math.max(...results.map((r) => r.failoverMs))}`,
    );
    expect(results.flatMap((r) => r.problems.map((p) => `loop kill ${r.kill} at ${r.killAtMs} ms: ${p}`))).toEqual([]);
    expect(results.length).toBeGreaterThanOrEqual(KILLS);
    for (const r of results) {
      expect(r.lost).toBe(0);
      expect(r.duplicates).toBe(0);
      expect(r.finalCount).toBe(r.ok200);
      expect(r.epoch).toBeGreaterThanOrEqual(1);
    }
    // The load really ran across the kills.
    expect(total((r) => r.answered)).toBeGreaterThan(results.length * 20);
  });
});
