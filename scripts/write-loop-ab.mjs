// The guest-file write path of two builds side by side, without HTTP or a guest: `writeGuestFile` of
// each build's dist/ in a loop, in a fresh process pinned to core 0, builds alternated. Prints writes/s
// and the process's CPU time per write (utime + stime), as medians (min-max) over the rounds.
//   node scripts/write-loop-ab.mjs --dist before=/tmp/before/dist --dist after=dist [--rounds 5] [--seconds 3] [--writers 8] [--files 1]
// Each child writes `writers` loops of `writeGuestFile(data, state-<i % files>.txt, <i>:<64 x's>)`
// for 1 s of warm-up and then `seconds` measured.
import { spawnSync } from 'node:child_process';
import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

function argValues(name) {
  const values = [];
  for (let i = 2; i < process.argv.length; i++) if (process.argv[i] === name) values.push(process.argv[++i]);
  return values;
}
const arg = (name, fallback) => argValues(name).at(-1) ?? fallback;

if (process.argv[2] === '--child') {
  const [, , , dist, seconds, writers, files] = process.argv;
  const { writeGuestFile, closeJournal } = await import(pathToFileURL(join(dist, 'host/data-dir.js')).href);
  const dir = await mkdtemp(join(tmpdir(), 'lockstep-write-ab-'));
  const data = join(dir, 'data');
  await mkdir(data);
  let n = 0;
  let stop = false;
  const loop = async () => {
    while (!stop) {
      const i = ++n;
      await writeGuestFile(data, `state-${i % Number(files)}.txt`, `${i}:${'x'.repeat(64)}`);
    }
  };
  const loops = Array.from({ length: Number(writers) }, loop);
  await new Promise((r) => setTimeout(r, 1000));
  const n0 = n;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, Number(seconds) * 1000));
  const done = n - n0;
  const cpu = process.cpuUsage(c0);
  const ms = performance.now() - t0;
  stop = true;
  await Promise.all(loops);
  await closeJournal?.(data); // a build with the write journal: nothing left in flight when the directory goes
  await rm(dir, { recursive: true, force: true }).catch(() => {});
  process.stdout.write(JSON.stringify({ writesPerS: (done * 1000) / ms, cpuUsPerWrite: (cpu.user + cpu.system) / done }));
  process.exit(0);
}

const dists = argValues('--dist').map((spec) => ({ name: spec.slice(0, spec.indexOf('=')), dir: resolve(spec.slice(spec.indexOf('=') + 1)) }));
const rounds = Number(arg('--rounds', '5'));
const seconds = arg('--seconds', '3');
const writers = arg('--writers', '8');
const files = arg('--files', '1');
const loadAverage = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
console.log(`write-loop-ab: ${new Date().toISOString()}, load average ${loadAverage()}; ${writers} writers, ${files} file(s), ${rounds} rounds x ${seconds} s after 1 s warm-up, core 0`);
const samples = new Map(dists.map((d) => [d.name, []]));
for (let round = 0; round < rounds; round++) {
  for (const dist of round % 2 ? [...dists].reverse() : dists) {
    const child = spawnSync('taskset', ['-c', '0', process.execPath, process.argv[1], '--child', dist.dir, seconds, writers, files], { encoding: 'utf8' });
    if (child.status !== 0) throw new Error(`${dist.name}: ${child.stderr}`);
    const figures = JSON.parse(child.stdout);
    samples.get(dist.name).push(figures);
    process.stderr.write(`  round ${round + 1} ${dist.name} (load ${loadAverage()}): ${Math.round(figures.writesPerS)} writes/s, ${figures.cpuUsPerWrite.toFixed(1)} us CPU/write\n`);
  }
}
const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
const cell = (values, digits) => `${median(values).toFixed(digits)} (${Math.min(...values).toFixed(digits)}-${Math.max(...values).toFixed(digits)})`;
console.log(`load average at the end ${loadAverage()}\n`);
console.log(`| figure | ${dists.map((d) => d.name).join(' | ')} | ${dists.at(-1).name} / ${dists[0].name} |`);
console.log(`|---|${dists.map(() => '---|').join('')}---|`);
for (const [figure, digits] of [['writesPerS', 0], ['cpuUsPerWrite', 1]]) {
  const medians = dists.map((d) => median(samples.get(d.name).map((s) => s[figure])));
  console.log(`| ${figure === 'writesPerS' ? 'writes/s' : 'CPU us per write'} | ${dists.map((d) => cell(samples.get(d.name).map((s) => s[figure]), digits)).join(' | ')} | ${(medians.at(-1) / medians[0]).toFixed(2)} |`);
}
