// How fast a pair heals itself (issue 19): a healthy primary frozen a little past the failure
// timeout (a false failover) is deposed; it rejoins its successor as a fresh secondary. Per trial:
// the time from SIGCONT until the successor reports `protected` again, and the client answers lost
// (must be 0).
//
//   npx tsx scripts/heal-bench.ts [--trials 10] [--freeze-ms 450]
import { cpus } from 'node:os';
import { rm } from 'node:fs/promises';
import { add, ledgerCount, LEDGER, sleep, startPair, status, tempDir, waitUntil, type StartedNode } from '../test/replication/helpers.js';

const flags = Object.fromEntries(process.argv.slice(2).reduce<string[][]>((pairs, a, i, all) => (a.startsWith('--') ? [...pairs, [a.slice(2), all[i + 1]!]] : pairs), []));
const TRIALS = Number(flags.trials ?? 10);
const FREEZE_MS = Number(flags['freeze-ms'] ?? 450);
const TIMING = { heartbeatMs: 50, failureTimeoutMs: 300 };

const role = async (n: StartedNode) => (await status(n.url))?.role as string | undefined;

/** Keyed adds until stopped; `told` is the highest count any client was answered. */
function load(urls: () => string[]) {
  const state = { told: 0, stopped: false };
  const loops = Array.from({ length: 4 }, async (_, c) => {
    for (let i = 0; !state.stopped; i++) {
      for (const url of urls()) {
        try {
          const a = await add(url, `heal-${c}-${i}`, '', 2000);
          if (a.status === 200) {
            state.told = Math.max(state.told, (JSON.parse(a.body) as { n: number }).n);
            break;
          }
        } catch {
          /* try the other node */
        }
      }
      await sleep(5);
    }
  });
  return { state, stop: async () => { state.stopped = true; await Promise.all(loops); } };
}

async function trial(): Promise<{ healMs: number; lost: number; deposed: boolean }> {
  const dir = await tempDir('heal-bench');
  const pair = await startPair(dir, { ...TIMING, program: LEDGER });
  try {
    const [p, s] = [pair.primary, pair.secondary];
    const traffic = load(() => [p.url, s.url]);
    await sleep(500);
    p.proc.signal('SIGSTOP');
    await sleep(FREEZE_MS);
    p.proc.signal('SIGCONT');
    const healedFrom = performance.now();
    // Deposed: it says so once it learns it lost; then the pair is whole once the successor is protected again.
    const deposed = await p.proc.waitFor(/rejoining the owner/, 5000).then(() => true, () => false);
    await waitUntil(async () => {
      const [a, b] = [await status(p.url), await status(s.url)];
      return (a?.role === 'primary' && a.protection === 'protected' && b?.role === 'secondary') || (b?.role === 'primary' && b.protection === 'protected' && a?.role === 'secondary');
    }, 30_000, 'protected again', 10);
    const healMs = performance.now() - healedFrom;
    await traffic.stop();
    const owner = (await role(p)) === 'primary' ? p : s;
    const lost = Math.max(0, traffic.state.told - (await ledgerCount(owner.url)));
    return { healMs, lost, deposed };
  } finally {
    await pair.kill();
    await rm(dir, { recursive: true, force: true });
  }
}

const results: Array<{ healMs: number; lost: number; deposed: boolean }> = [];
console.log(`heal-bench: ${TRIALS} trials, primary frozen ${FREEZE_MS} ms (failure timeout ${TIMING.failureTimeoutMs} ms), ${cpus()[0]?.model} x${cpus().length}, node ${process.version}`);
for (let i = 0; i < TRIALS; i++) {
  const r = await trial();
  results.push(r);
  console.log(`trial ${i + 1}: ${r.deposed ? 'deposed, ' : 'NOT deposed (the freeze went unnoticed), '}protected again ${Math.round(r.healMs)} ms after SIGCONT, answers lost ${r.lost}`);
}
const sorted = results.filter((r) => r.deposed).map((r) => r.healMs).sort((a, b) => a - b);
console.log(`deposed in ${sorted.length} of ${results.length} trials (only those are timed below)`);
const at = (q: number) => Math.round(sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!);
console.log(`protection restored after a false failover: p50 ${at(0.5)} ms, p90 ${at(0.9)} ms, max ${at(1)} ms; answers lost in all trials: ${results.reduce((n, r) => n + r.lost, 0)}`);
