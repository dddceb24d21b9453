// The cost of one guest event on the host, live and replayed, with no HTTP, log file or channel:
// CPU time per event of the process (process.cpuUsage: it does not depend on how a busy machine
// shares its cores) and, with --callgrind, instructions per event counted by valgrind (repeatable
// under load). Each figure comes from a fresh child process; builds are interleaved (A B A B ...)
// and medians reported, so two builds compare side by side in one run:
//   npm run build && cp -r dist /tmp/before-dist   (on the old commit)
//   node scripts/event-cost.mjs --dist before=/tmp/before-dist --dist after=dist [--rounds 7] [--events 3000]
//   node scripts/event-cost.mjs --dist before=/tmp/before-dist --dist after=dist --callgrind [--guests trivial]
// live = Executor.submit of a request (what a node runs per request, minus HTTP and the log's
// encoding); replay = Executor.replayNext over the entries the live run logged (what a secondary
// runs per event, minus the channel). Each child warms up first (V8's JIT) and measures after.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Requests as node:http hands them over (autocannon's headers); bodies are bytes, as received. */
const GUESTS = {
  trivial: { program: 'guest-programs/bench-trivial.js', method: 'GET', path: '/', headers: [['host', 'localhost:8080']], body: '' },
  plain: { program: 'guest-programs/bench-plain.js', method: 'POST', path: '/echo', headers: [['host', 'localhost:8080'], ['content-type', 'text/plain'], ['content-length', '64']], body: 'x'.repeat(64) },
  fetch: { program: 'guest-programs/bench-fetch.js', method: 'POST', path: '/echo', headers: [['host', 'localhost:8080'], ['content-type', 'text/plain'], ['content-length', '64']], body: 'x'.repeat(64) },
  counter: { program: 'guest-programs/counter.js', method: 'POST', path: '/increment', headers: [['host', 'localhost:8080'], ['content-type', 'application/json'], ['content-length', '2']], body: '{}' },
};

function argValues(name) {
  const values = [];
  for (let i = 2; i < process.argv.length; i++) if (process.argv[i] === name) values.push(process.argv[++i]);
  return values;
}
const flag = (name) => process.argv.includes(name);
const arg = (name, fallback) => argValues(name).at(-1) ?? fallback;

async function child() {
  const dist = resolve(arg('--dist'));
  const guest = GUESTS[arg('--guest')];
  const mode = arg('--mode');
  const events = Number(arg('--events'));
  const warmup = Number(arg('--warmup'));
  const { Executor } = await import(pathToFileURL(join(dist, 'engine/executor.js')).href);
  const { EntryQueue } = await import(pathToFileURL(join(dist, 'engine/entry-queue.js')).href);
  const { DEFAULT_GUEST_LIMITS } = await import(pathToFileURL(join(dist, 'sandbox/guest.js')).href);
  const programPath = join(root, guest.program);
  const entries = [];
  let outputs = 0;
  const hooks = {
    onEntry: (_seq, entry) => entries.push(entry),
    onOutput: () => outputs++,
    actions: { armTimer() {}, clearTimer() {}, startRead() {} },
  };
  const options = { source: readFileSync(programPath, 'utf8'), programName: basename(programPath), limits: DEFAULT_GUEST_LIMITS, hooks };
  const live = await Executor.createLive(options);
  live.start();
  const body = new TextEncoder().encode(guest.body);
  const submit = () => live.submit({ kind: 'request', method: guest.method, path: guest.path, headers: guest.headers.map(([n, v]) => [n, v]), body: body.slice() });
  const measure = (count, step) => {
    const cpu = process.cpuUsage();
    const started = performance.now();
    for (let i = 0; i < count; i++) step();
    const used = process.cpuUsage(cpu);
    return { cpuUsPerEvent: (used.user + used.system) / count, wallUsPerEvent: ((performance.now() - started) * 1000) / count };
  };
  let result;
  if (mode === 'live') {
    for (let i = 0; i < warmup; i++) submit();
    result = measure(events, submit);
  } else {
    // --live-events: the same live run for every replay child (callgrind subtracts two runs).
    const liveEvents = Number(arg('--live-events', String(warmup + events)));
    for (let i = 0; i < liveEvents; i++) submit();
    const queue = new EntryQueue();
    queue.push(1, entries.slice());
    const replayOptions = { ...options, hooks: { ...hooks, onEntry() {} } };
    const replayer = await Executor.bootReplay(replayOptions, queue);
    // Replay entries up to the warm-up's last event, then measure the rest event by event.
    const replayEvent = () => {
      for (let entry = replayer.replayNext(); entry; entry = replayer.replayNext()) if (entry.kind === 'request') return;
    };
    for (let i = 0; i < warmup; i++) replayEvent();
    result = measure(Math.min(events, liveEvents - warmup), replayEvent);
    // A callgrind child may replay only part of the log; one that replayed all of it must agree.
    if (queue.pending === 0 && replayer.outputsDigest() !== live.outputsDigest()) throw new Error('the replay digest differs from the live run');
    replayer.dispose();
  }
  live.dispose();
  process.stdout.write(JSON.stringify(result) + '\n');
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

function runChild(dist, guest, mode, events, warmup, callgrind, liveEvents) {
  const args = [fileURLToPath(import.meta.url), '--child', '--dist', dist, '--guest', guest, '--mode', mode, '--events', String(events), '--warmup', String(warmup)];
  if (liveEvents !== undefined) args.push('--live-events', String(liveEvents));
  const cpu = arg('--cpu', undefined);
  let command = process.execPath;
  let full = args;
  if (callgrind) {
    command = 'valgrind';
    full = ['--tool=callgrind', '--callgrind-out-file=/dev/null', process.execPath, ...args];
  }
  if (cpu !== undefined) {
    full = ['-c', cpu, command, ...full];
    command = 'taskset';
  }
  const run = spawnSync(command, full, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (run.status !== 0) throw new Error(`child failed (${dist} ${guest} ${mode}): ${run.stderr.slice(-2000)}`);
  const result = JSON.parse(run.stdout.trim().split('\n').at(-1));
  if (callgrind) {
    const collected = /Collected\s*:\s*(\d+)/.exec(run.stderr);
    if (!collected) throw new Error(`no callgrind total in: ${run.stderr.slice(-1000)}`);
    result.instructions = Number(collected[1]);
  }
  return result;
}

async function parent() {
  const dists = argValues('--dist').map((spec) => {
    const at = spec.indexOf('=');
    return at < 0 ? { name: spec, dir: resolve(spec) } : { name: spec.slice(0, at), dir: resolve(spec.slice(at + 1)) };
  });
  if (dists.length === 0) dists.push({ name: 'dist', dir: join(root, 'dist') });
  const guests = arg('--guests', 'trivial,plain,fetch,counter').split(',');
  const modes = arg('--modes', 'live,replay').split(',');
  const callgrind = flag('--callgrind');
  const rounds = Number(arg('--rounds', callgrind ? '1' : '5'));
  const events = Number(arg('--events', callgrind ? '1000' : '3000'));
  const warmup = Number(arg('--warmup', callgrind ? '200' : '3000'));
  let load = '';
  try {
    load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {}
  console.log(`event-cost: ${new Date().toISOString()}, load average ${load}, node ${process.version}, ${rounds} rounds x ${events} events after ${warmup} warm-up${callgrind ? ', callgrind (instructions per event = difference of two runs / difference of their event counts)' : ''}`);
  const figures = new Map();
  for (let round = 0; round < rounds; round++) {
    for (const guest of guests) {
      for (const mode of modes) {
        for (const dist of round % 2 ? [...dists].reverse() : dists) {
          const key = `${guest}\t${mode}\t${dist.name}`;
          let value;
          if (callgrind) {
            const small = runChild(dist.dir, guest, mode, events, warmup, true, warmup + events * 2);
            const large = runChild(dist.dir, guest, mode, events * 2, warmup, true, warmup + events * 2);
            value = { instructionsPerEvent: (large.instructions - small.instructions) / events, cpuUsPerEvent: large.cpuUsPerEvent };
          } else value = runChild(dist.dir, guest, mode, events, warmup, false);
          if (!figures.has(key)) figures.set(key, []);
          figures.get(key).push(value);
          process.stderr.write(`  round ${round + 1} ${guest} ${mode} ${dist.name}: ${JSON.stringify(value)}\n`);
        }
      }
    }
  }
  const unit = callgrind ? 'instructions/event' : 'CPU us/event (median, min-max)';
  console.log(`\n| guest | mode | ${dists.map((d) => `${d.name}: ${unit}`).join(' | ')} |${dists.length > 1 ? ` ${dists.at(-1).name} / ${dists[0].name} |` : ''}`);
  console.log(`|---|---|${dists.map(() => '---|').join('')}${dists.length > 1 ? '---|' : ''}`);
  for (const guest of guests) {
    for (const mode of modes) {
      const cells = [];
      const medians = [];
      for (const dist of dists) {
        const values = figures.get(`${guest}\t${mode}\t${dist.name}`).map((v) => (callgrind ? v.instructionsPerEvent : v.cpuUsPerEvent));
        const m = median(values);
        medians.push(m);
        cells.push(callgrind ? `${Math.round(m).toLocaleString('en-US')}` : `${m.toFixed(1)} (${Math.min(...values).toFixed(1)}-${Math.max(...values).toFixed(1)})`);
      }
      console.log(`| ${guest} | ${mode} | ${cells.join(' | ')} |${dists.length > 1 ? ` ${(medians.at(-1) / medians[0]).toFixed(2)} |` : ''}`);
    }
  }
}

if (flag('--child')) await child();
else await parent();
