// Two builds side by side over HTTP, with the bench's own code (measurePair of each build's dist):
// `lockstep run` and a primary + secondary pair of each build, interleaved, pinned as the bench pins
// (node / primary on core 0, secondary and load generator on core 1). Prints the CPU time per
// request of each process (utime + stime from /proc, warm-up included: what does not depend on how
// a busy machine shares its cores) and requests/s, as medians (min-max) over the repetitions.
//   node scripts/pair-cpu-ab.mjs --dist before=/tmp/before/dist --dist after=dist [--reps 3] [--guests bench-trivial.js,bench-fetch.js] [--configs unreplicated,replicated]
// A build's directory must look like a checkout (dist/, bin/, guest-programs/, node_modules/ beside
// each other): its bench starts its own bin/lockstep.js.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

function argValues(name) {
  const values = [];
  for (let i = 2; i < process.argv.length; i++) if (process.argv[i] === name) values.push(process.argv[++i]);
  return values;
}
const arg = (name, fallback) => argValues(name).at(-1) ?? fallback;
const dists = argValues('--dist').map((spec) => {
  const at = spec.indexOf('=');
  return { name: spec.slice(0, at), dir: resolve(spec.slice(at + 1)) };
});
const reps = Number(arg('--reps', '3'));
const guests = arg('--guests', 'bench-trivial.js,bench-fetch.js').split(',');
const configs = arg('--configs', 'unreplicated,replicated').split(',');
const budget = { durationMs: Number(arg('--duration-ms', '2000')), warmupMs: Number(arg('--warmup-ms', '1500')), concurrency: 8 };
const loadAverage = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

for (const dist of dists) {
  const load = (path) => import(pathToFileURL(join(dist.dir, path)).href);
  dist.bench = { ...(await load('bench/replication.js')), ...(await load('bench/configurations.js')), ...(await load('bench/pinning.js')) };
}
const pinning = dists[0].bench.detectPinning();
console.log(`pair-cpu-ab: ${new Date().toISOString()}, load average ${loadAverage()}, pinning: ${pinning.description}; ${reps} reps x ${budget.durationMs} ms after ${budget.warmupMs} ms warm-up, ${budget.concurrency} connections`);
const samples = new Map();
const failures = [];
for (let rep = 0; rep < reps; rep++) {
  for (const guest of guests) {
    for (const config of configs) {
      for (const dist of rep % 2 ? [...dists].reverse() : dists) {
        const program = join(dist.dir, '..', 'guest-programs', guest);
        const dir = mkdtempSync(join(tmpdir(), 'lockstep-ab-'));
        const key = `${guest}\t${config}\t${dist.name}`;
        if (!samples.has(key)) samples.set(key, []);
        try {
          const sample = await dist.bench.measurePair(dist.bench[config], program, budget, pinning, dir);
          const figures = { reqPerS: sample.load.requestsPerS, ...Object.fromEntries(Object.entries(sample.cpuMsPerRequest).map(([role, ms]) => [`${role} us`, ms * 1000])) };
          samples.get(key).push(figures);
          process.stderr.write(`  rep ${rep + 1} ${guest} ${config} ${dist.name} (load ${loadAverage()}): ${JSON.stringify(figures)}\n`);
        } catch (error) {
          // A loaded machine can make a pair fail over during a run (the primary's status then answers as a secondary): count it, go on.
          failures.push(`${guest} ${config} ${dist.name}: ${String(error).slice(0, 200)}`);
          process.stderr.write(`  rep ${rep + 1} ${guest} ${config} ${dist.name}: FAILED ${String(error).slice(0, 200)}\n`);
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      }
    }
  }
}
const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
console.log(`load average at the end ${loadAverage()}; ${failures.length} runs failed${failures.map((f) => `\n  ${f}`).join('')}\n`);
console.log(`| guest | configuration | figure | ${dists.map((d) => d.name).join(' | ')} | ${dists.at(-1).name} / ${dists[0].name} |`);
console.log(`|---|---|---|${dists.map(() => '---|').join('')}---|`);
for (const guest of guests) {
  for (const config of configs) {
    const figureNames = Object.keys(samples.get(`${guest}\t${config}\t${dists[0].name}`)[0] ?? {});
    for (const figure of figureNames) {
      const medians = [];
      const cells = dists.map((dist) => {
        const values = samples.get(`${guest}\t${config}\t${dist.name}`).map((s) => s[figure]);
        if (values.length === 0) {
          medians.push(NaN);
          return 'n/a';
        }
        const m = median(values);
        medians.push(m);
        return `${Math.round(m).toLocaleString('en-US')} (${Math.round(Math.min(...values)).toLocaleString('en-US')}-${Math.round(Math.max(...values)).toLocaleString('en-US')})`;
      });
      console.log(`| ${guest} | ${config} | ${figure === 'reqPerS' ? 'req/s' : `CPU/request, ${figure}`} | ${cells.join(' | ')} | ${(medians.at(-1) / medians[0]).toFixed(2)} |`);
    }
  }
}
