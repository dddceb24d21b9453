// Soak: the failover kill loop of test/replication/failover.integration.test.ts for hundreds of
// kills. Not part of the test suite. Build first (`npx tsc -p .`), then:
//   npx tsx scripts/soak.ts --kills 300 [--seed N] [--chain 10] [--loops 2] [--failure-timeout-ms 1000]
// Prints SEED= first and a summary; exits non-zero on any loss, duplicate or wrong state.
import { randomInt } from 'node:crypto';
import { parseArgs } from 'node:util';
import { assertBuilt } from '../test/replication/helpers.js';
import { killLoop, type KillResult } from '../test/replication/kill-loop.js';

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      kills: { type: 'string', default: '300' },
      seed: { type: 'string' },
      chain: { type: 'string', default: '10' },
      loops: { type: 'string', default: '2' },
      'failure-timeout-ms': { type: 'string' },
      'heartbeat-ms': { type: 'string' },
      verbose: { type: 'boolean', default: false },
    },
  });
  assertBuilt();
  const seed = values.seed !== undefined ? Number(values.seed) : randomInt(2 ** 31);
  const kills = Number(values.kills);
  const loops = Math.max(1, Number(values.loops));
  console.log(`SEED=${seed}`);
  console.log(`soak: ${kills} kills, ${loops} loops side by side, chains of ${values.chain} kills per fresh pair`);
  const started = Date.now();
  const all: KillResult[] = [];
  const per = Math.ceil(kills / loops);
  await Promise.all(
    Array.from({ length: loops }, (_, loop) =>
      killLoop({
        seed: seed + loop * 1_000_003,
        kills: Math.min(per, kills - loop * per),
        chain: Number(values.chain),
        failureTimeoutMs: values['failure-timeout-ms'] ? Number(values['failure-timeout-ms']) : undefined,
        heartbeatMs: values['heartbeat-ms'] ? Number(values['heartbeat-ms']) : undefined,
        onResult: (r) => {
          all.push(r);
          if (r.problems.length > 0) console.log(`FAIL loop ${loop} kill ${r.kill} (pair ${r.pair}, kill at ${r.killAtMs} ms):\n  ${r.problems.join('\n  ')}`);
          else if (values.verbose) console.log(`ok loop ${loop} kill ${r.kill} at ${r.killAtMs} ms: sent ${r.sent}, count ${r.finalCount}, epoch ${r.epoch}, failover ${r.failoverMs} ms`);
          if (all.length % 25 === 0) console.log(`.. ${all.length} kills, ${all.filter((x) => x.problems.length > 0).length} failed, ${((Date.now() - started) / 1000).toFixed(0)} s`);
        },
      }),
    ),
  );
  const sum = (f: (r: KillResult) => number) => all.reduce((s, r) => s + Math.max(0, f(r)), 0);
  const failed = all.filter((r) => r.problems.length > 0);
  const failovers = all.map((r) => r.failoverMs).filter((x) => x >= 0).sort((a, b) => a - b);
  console.log(`SEED=${seed} summary: kills ${all.length}, failed ${failed.length}, keys sent ${sum((r) => r.sent)}, answered ${sum((r) => r.answered)}, ` +
    `lost ${sum((r) => r.lost)}, duplicates ${sum((r) => r.duplicates)}, failover (kill -> live) median ${failovers[Math.floor(failovers.length / 2)] ?? '-'} ms, max ${failovers.at(-1) ?? '-'} ms, ` +
    `${((Date.now() - started) / 1000).toFixed(0)} s`);
  return failed.length === 0 && all.length >= kills ? 0 : 1;
}

main().then((code) => process.exit(code), (error) => {
  console.error(error);
  process.exit(2);
});
