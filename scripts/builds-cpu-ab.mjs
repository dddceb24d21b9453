// Several builds side by side, `lockstep run` and a primary + secondary pair of each, measured by one
// piece of code (this script), so a change in a build's own bench code cannot move its figures. Each
// build is a directory laid out like a checkout (bin/, dist/, guest-programs/, node_modules/).
// Node / primary on core 0, secondary and autocannon on core 1 (as the bench pins). After a warm-up,
// the CPU time of each process (utime + stime from /proc, whatever the sharing of the cores) is read
// around a fixed window of closed-loop load; builds and configurations are alternated round by round,
// and the figures are medians (min-max) over the rounds.
//   node scripts/builds-cpu-ab.mjs --build before=/tmp/b0 --build after=. [--rounds 5] [--guest bench-trivial.js]
//        [--seconds 4] [--warmup-seconds 2] [--connections 8] [--configs run,pair] [--post-bytes N]
// --post-bytes N: POST /echo-length with an N-byte body (bench-body.js's workload) instead of GET /.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join, resolve } from 'node:path';

function argValues(name) {
  const values = [];
  for (let i = 2; i < process.argv.length; i++) if (process.argv[i] === name) values.push(process.argv[++i]);
  return values;
}
const arg = (name, fallback) => argValues(name).at(-1) ?? fallback;
const builds = argValues('--build').map((spec) => ({ name: spec.slice(0, spec.indexOf('=')), dir: resolve(spec.slice(spec.indexOf('=') + 1)) }));
const rounds = Number(arg('--rounds', '5'));
const guest = arg('--guest', 'bench-trivial.js');
const seconds = Number(arg('--seconds', '4'));
const warmupSeconds = Number(arg('--warmup-seconds', '2'));
const connections = Number(arg('--connections', '8'));
const configs = arg('--configs', 'run,pair').split(',');
const postBytes = Number(arg('--post-bytes', '0'));
const request = postBytes > 0 ? { args: ['-m', 'POST', '-b', 'b'.repeat(postBytes)], path: '/echo-length' } : { args: [], path: '/' };
const autocannonBin = resolve(new URL('..', import.meta.url).pathname, 'node_modules/.bin/autocannon');
const TICK_MS = 1000 / Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
const PRIMARY_PORT = 18710;
const SECONDARY_PORT = 18711;
const CHANNEL_PORT = 18712;

const loadAverage = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const cpuMs = (pid) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function start(core, args) {
  const child = spawn('taskset', ['-c', String(core), process.execPath, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c) => (stderr = (stderr + c).slice(-2000)));
  child.stderrText = () => stderr;
  return child;
}

async function status(port) {
  try {
    return await (await fetch(`http://127.0.0.1:${port}/_lockstep/status`, { signal: AbortSignal.timeout(2000) })).json();
  } catch {
    return undefined;
  }
}

async function waitFor(what, check, child) {
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`${what}: exited ${child.exitCode}: ${child.stderrText()}`);
    if (await check()) return;
    await sleep(100);
  }
  throw new Error(`${what}: not ready in 20 s: ${child.stderrText()}`);
}

function autocannon(durationS) {
  const args = ['-c', '1', autocannonBin, '-c', String(connections), '-d', String(durationS), ...request.args, '--json', `http://127.0.0.1:${PRIMARY_PORT}${request.path}`];
  const out = execFileSync('taskset', args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  const result = JSON.parse(out);
  return { requests: result['2xx'], non2xx: result.non2xx + result.errors };
}

async function measure(build, config) {
  const dir = mkdtempSync(join(tmpdir(), 'lockstep-builds-ab-'));
  const program = join(build.dir, 'guest-programs', guest);
  const bin = join(build.dir, 'bin', 'lockstep.js');
  const children = [];
  try {
    if (config === 'run') {
      children.push(start(0, [bin, 'run', program, '--dir', dir, '--port', String(PRIMARY_PORT)]));
      await waitFor('run', async () => (await status(PRIMARY_PORT)) !== undefined, children[0]);
    } else {
      children.push(start(0, [bin, 'primary', program, '--dir', dir, '--port', String(PRIMARY_PORT), '--log-listen', `127.0.0.1:${CHANNEL_PORT}`]));
      await waitFor('primary', async () => (await status(PRIMARY_PORT)) !== undefined, children[0]);
      children.push(start(1, [bin, 'secondary', program, '--dir', dir, '--port', String(SECONDARY_PORT), '--primary', `ws://127.0.0.1:${CHANNEL_PORT}`]));
      await waitFor('protected', async () => (await status(PRIMARY_PORT))?.protection === 'protected', children[1]);
    }
    autocannon(warmupSeconds);
    const before = { cpu: children.map((c) => cpuMs(c.pid)), status: await status(PRIMARY_PORT) };
    const load = autocannon(seconds);
    const after = { cpu: children.map((c) => cpuMs(c.pid)), status: await status(PRIMARY_PORT) };
    const perRequest = (i) => ((after.cpu[i] - before.cpu[i]) * 1000) / load.requests;
    const figures = { 'req/s': load.requests / seconds, [config === 'run' ? 'node us' : 'primary us']: perRequest(0) };
    if (config === 'pair') {
      figures['secondary us'] = perRequest(1);
      figures['secondary/primary'] = perRequest(1) / perRequest(0);
      const frames = (key) => (after.status?.[key] - before.status?.[key]) / load.requests;
      if (typeof after.status?.logFramesSent === 'number') figures['frames sent/req'] = frames('logFramesSent');
      if (typeof after.status?.logFramesReceived === 'number') figures['frames received/req'] = frames('logFramesReceived');
    }
    if (load.non2xx > 0) figures['non-2xx'] = load.non2xx;
    return figures;
  } finally {
    for (const child of children.reverse()) child.kill('SIGKILL');
    await sleep(300);
    rmSync(dir, { recursive: true, force: true });
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const fmt = (x) => (Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 10 ? x.toFixed(1) : x.toFixed(2));

console.log(`builds-cpu-ab: ${new Date().toISOString()}, ${cpus()[0]?.model ?? 'cpu'} x${cpus().length}, node ${process.version}, load average ${loadAverage()}`);
console.log(`${guest}${postBytes ? ` (POST of ${postBytes} bytes)` : ''}, ${connections} connections, ${rounds} rounds of ${seconds} s after ${warmupSeconds} s of warm-up; builds: ${builds.map((b) => `${b.name}=${b.dir}`).join(', ')}`);
const samples = new Map();
for (let round = 0; round < rounds; round++) {
  const order = round % 2 ? [...builds].reverse() : builds;
  for (const build of order) {
    for (const config of round % 2 ? [...configs].reverse() : configs) {
      const key = `${build.name}\t${config}`;
      try {
        const figures = await measure(build, config);
        if (!samples.has(key)) samples.set(key, []);
        samples.get(key).push(figures);
        process.stderr.write(`  round ${round + 1} ${build.name} ${config} (load ${loadAverage()}): ${Object.entries(figures).map(([k, v]) => `${k} ${fmt(v)}`).join(', ')}\n`);
      } catch (error) {
        process.stderr.write(`  round ${round + 1} ${build.name} ${config}: FAILED ${String(error).slice(0, 300)}\n`);
      }
    }
  }
}
console.log(`load average at the end ${loadAverage()}\n`);
console.log(`| configuration | figure | ${builds.map((b) => b.name).join(' | ')} | ${builds.at(-1).name} / ${builds[0].name} |`);
console.log(`|---|---|${builds.map(() => '---|').join('')}---|`);
for (const config of configs) {
  const names = [...new Set(builds.flatMap((b) => (samples.get(`${b.name}\t${config}`) ?? []).flatMap((s) => Object.keys(s))))];
  for (const name of names) {
    const medians = builds.map((b) => {
      const values = (samples.get(`${b.name}\t${config}`) ?? []).map((s) => s[name]).filter((v) => v !== undefined);
      return values.length ? { m: median(values), lo: Math.min(...values), hi: Math.max(...values) } : undefined;
    });
    const cells = medians.map((x) => (x ? `${fmt(x.m)} (${fmt(x.lo)}-${fmt(x.hi)})` : 'n/a'));
    const first = medians[0]?.m;
    const last = medians.at(-1)?.m;
    console.log(`| ${config} | ${name} | ${cells.join(' | ')} | ${first && last !== undefined ? (last / first).toFixed(2) : 'n/a'} |`);
  }
  if (config === 'pair' && configs.includes('run')) {
    const ratio = builds.map((b) => {
      const run = (samples.get(`${b.name}\trun`) ?? []).map((s) => s['node us']);
      const pair = (samples.get(`${b.name}\tpair`) ?? []).map((s) => s['primary us']);
      return run.length && pair.length ? (median(pair) / median(run)).toFixed(2) : 'n/a';
    });
    console.log(`| pair / run | primary CPU per request over run's (medians) | ${ratio.join(' | ')} | |`);
    const rps = builds.map((b) => {
      const run = (samples.get(`${b.name}\trun`) ?? []).map((s) => s['req/s']);
      const pair = (samples.get(`${b.name}\tpair`) ?? []).map((s) => s['req/s']);
      return run.length && pair.length ? (median(pair) / median(run)).toFixed(2) : 'n/a';
    });
    console.log(`| pair / run | req/s (medians) | ${rps.join(' | ')} | |`);
  }
}
