#!/usr/bin/env node
// A fault campaign: many `lockstep chaos` runs with fresh seeds, half of them with a delayed logging
// link (a real round trip), every fault kind; then the totals, the violations and the gap and
// re-protection percentiles per fault kind and link. Each run's JSON summary is kept in --out.
//
//   node scripts/chaos-campaign.mjs --faults 1000 --per-run 25 --first-seed 190000 --out campaign
//
// Exit 0 only if every run ended 0. Stops starting runs after --max-minutes (the totals say so).
//   node scripts/chaos-campaign.mjs --summarize DIR[,DIR...]   # the totals and table of finished campaigns
// (in a campaign directory the seeds alternate loopback, delayed, ... from its first seed).
import { spawn } from 'node:child_process';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import { writeFileSync } from 'node:fs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = Object.fromEntries(process.argv.slice(2).reduce((pairs, a, i, all) => (a.startsWith('--') ? [...pairs, [a.slice(2), all[i + 1]]] : pairs), []));
const faultsTotal = Number(args.faults ?? 1000);
const perRun = Number(args['per-run'] ?? 25);
const firstSeed = Number(args['first-seed'] ?? Math.floor(Math.random() * 1e6));
const out = resolve(args.out ?? 'campaign');
const maxMinutes = Number(args['max-minutes'] ?? 120);
/** Delayed runs: each secondary's link gets 50..400 ms per direction; the lease needs a timeout above 4x the max. */
const DELAYED = ['--link-delay-ms', '50..400', '--failure-timeout-ms', '2000'];

function runChaos(seed, delayed) {
  const json = join(out, `seed-${seed}.json`);
  const argv = ['bin/lockstep.js', 'chaos', '--seed', String(seed), '--faults', String(perRun), '--fault-kinds', 'all', '--json', json, ...(delayed ? DELAYED : [])];
  return new Promise((resolveRun) => {
    const child = spawn(process.execPath, argv, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let tail = '';
    const keep = (d) => (tail = (tail + d).slice(-4000));
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('exit', (code) => resolveRun({ seed, delayed, code, json, tail }));
  });
}

function percentile(sorted, p) {
  return sorted.length === 0 ? null : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

if (args.summarize) {
  const runs = [];
  for (const dir of args.summarize.split(',')) {
    const seeds = (await readdir(dir)).map((f) => /^seed-(\d+)\.json$/.exec(f)?.[1]).filter(Boolean).map(Number).sort((a, b) => a - b);
    for (const seed of seeds) {
      const summary = JSON.parse(await readFile(join(dir, `seed-${seed}.json`), 'utf8'));
      runs.push({ seed, delayed: (seed - seeds[0]) % 2 === 1, code: summary.exitCode, summary });
    }
  }
  report(runs, Date.now());
  process.exit(0);
}

await mkdir(out, { recursive: true });
console.log(`campaign: ${faultsTotal} faults, ${perRun} per run, seeds from ${firstSeed}, on ${os.cpus()[0]?.model} x${os.cpus().length}, node ${process.version}`);
const startedMs = Date.now();
const runs = [];
let faultsRun = 0;
for (let i = 0; faultsRun < faultsTotal; i++) {
  if (Date.now() - startedMs > maxMinutes * 60_000) {
    console.log(`--max-minutes ${maxMinutes} reached: stopping after ${runs.length} runs`);
    break;
  }
  const run = await runChaos(firstSeed + i, i % 2 === 1);
  let summary;
  try {
    summary = JSON.parse(await readFile(run.json, 'utf8'));
  } catch {
    summary = undefined;
  }
  run.summary = summary;
  runs.push(run);
  faultsRun += summary?.faultsRun ?? 0;
  const v = summary?.violations ?? {};
  console.log(`SEED=${run.seed} ${run.delayed ? 'delayed' : 'loopback'}: exit ${run.code}, ${summary?.faultsRun ?? '?'} faults, keys answered ${summary?.keys?.answered ?? '?'}, violations ${JSON.stringify({ c: v.correctness?.length ?? v.correctness ?? 0, l: v.liveness?.length ?? v.liveness ?? 0 })} (total faults ${faultsRun})`);
  if (run.code !== 0) console.log(run.tail.split('\n').slice(-25).join('\n'));
}

process.exit(report(runs, startedMs, join(out, 'campaign.json')) ? 0 : 1);

/** Totals, violations and per-kind percentiles of `runs`; true if every run ended 0. */
function report(runs, startedMs, jsonPath) {
// Per fault kind and link: gap and re-protection distributions.
const groups = new Map();
for (const run of runs) {
  for (const f of run.summary?.faults ?? []) {
    const key = `${f.kind} ${run.delayed ? '(delayed)' : '(loopback)'}`;
    const g = groups.get(key) ?? { gaps: [], reprotect: [], never: 0 };
    g.gaps.push(f.gapMs);
    if (f.reprotectedMs === null) g.never++;
    else g.reprotect.push(Math.round(f.reprotectedMs - f.startMs));
    groups.set(key, g);
  }
}
const lines = ['| fault kind (link) | count | gap p50 / p99 / max ms | re-protect p50 / p99 / max ms | never |', '|---|---|---|---|---|'];
for (const [key, g] of [...groups].sort()) {
  const gaps = [...g.gaps].sort((a, b) => a - b);
  const rep = [...g.reprotect].sort((a, b) => a - b);
  lines.push(`| ${key} | ${g.gaps.length} | ${percentile(gaps, 50)} / ${percentile(gaps, 99)} / ${gaps.at(-1)} | ${percentile(rep, 50)} / ${percentile(rep, 99)} / ${rep.at(-1)} | ${g.never} |`);
}
const failed = runs.filter((r) => r.code !== 0);
const totals = {
  runs: runs.length,
  faults: runs.reduce((n, r) => n + (r.summary?.faultsRun ?? 0), 0),
  seeds: runs.map((r) => `${r.seed}${r.delayed ? 'd' : ''}`),
  keysAnswered: runs.reduce((n, r) => n + (r.summary?.keys?.answered ?? 0), 0),
  failedRuns: failed.map((r) => ({ seed: r.seed, delayed: r.delayed, exit: r.code })),
  minutes: Math.round((Date.now() - startedMs) / 600) / 100,
};
totals.violations = runs.reduce((v, r) => ({ correctness: v.correctness + (r.summary?.violations?.correctness ?? 0), liveness: v.liveness + (r.summary?.violations?.liveness ?? 0) }), { correctness: 0, liveness: 0 });
console.log(JSON.stringify(totals));
console.log(lines.join('\n'));
if (jsonPath) writeFileSync(jsonPath, JSON.stringify({ totals, table: lines }, null, 2) + '\n');
return failed.length === 0;
}
