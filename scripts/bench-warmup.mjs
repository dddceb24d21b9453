// How much a short warm-up understates a freshly started node: the bench's own measurePair (trivial
// guest unless named, 8 connections, pinned as in the bench) with three window / warm-up settings,
// alternated twice. Run after `npm run build` (or `npx tsc -p .`): node scripts/bench-warmup.mjs [guest.js]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { measurePair } from '../dist/bench/replication.js';
import { replicated, unreplicated } from '../dist/bench/configurations.js';
import { detectPinning } from '../dist/bench/pinning.js';

const pinning = detectPinning();
const program = new URL(`../guest-programs/${process.argv[2] ?? 'bench-trivial.js'}`, import.meta.url).pathname;
const budgets = [
  { durationMs: 2000, warmupMs: 400, concurrency: 8 },
  { durationMs: 2000, warmupMs: 2000, concurrency: 8 },
  { durationMs: 5000, warmupMs: 500, concurrency: 8 },
];
console.log(`pinning: ${pinning.description}`);
for (let rep = 0; rep < 2; rep++) {
  for (const budget of budgets) {
    const figures = [];
    for (const configuration of [unreplicated, replicated]) {
      const dir = mkdtempSync(join(tmpdir(), 'lockstep-warmup-'));
      try {
        const s = await measurePair(configuration, program, budget, pinning, dir);
        const cpu = Object.entries(s.cpuMsPerRequest).map(([role, ms]) => `${role} ${Math.round(ms * 1000)} us`).join(', ');
        figures.push(`${configuration.name} ${Math.round(s.load.requestsPerS)} req/s (CPU/request ${cpu})`);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
    console.log(`window ${budget.durationMs} ms after a ${budget.warmupMs} ms warm-up: ${figures.join(' | ')}`);
  }
}
