// Measures the pauses the guest's Web APIs cost, in a fresh process (as a node starting): the boot of
// a guest (Guest.create and its start event), then the longest single event among a guest's first
// requests that use URL, URLSearchParams and structuredClone. An event is one synchronous run, so
// its length is a pause of the whole node (no heartbeat leaves meanwhile). Medians of fresh processes.
//   npm run build && node scripts/web-api-pause.mjs [--dist DIR] [--processes N] [--warm]
// --warm: each process first warms the sandbox up (Guest.warmUp, as loadProgram does before a node
// claims, serves or joins), so `boot` is the pause a secondary takes when it boots on the first entry.
// Under load: run it pinned to one core beside busy loops, e.g.
//   taskset -c 0 node -e 'for(;;){}' & taskset -c 0 node scripts/web-api-pause.mjs; kill %1
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';

const args = process.argv.slice(2);
const option = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const dist = resolve(option('--dist', join(dirname(fileURLToPath(import.meta.url)), '..', 'dist')));

if (args.includes('--child')) {
  const { Guest, DEFAULT_GUEST_LIMITS } = await import(join(dist, 'sandbox', 'guest.js'));
  const world = { now: () => 1_700_000_000_000, randomBytes: (n) => new Uint8Array(n) };
  const source = `export default { fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === '/clone') return Response.json(structuredClone({ a: [1, new Date(0)] }));
    return Response.json({ q: url.searchParams.get('q') });
  } };`;
  if (args.includes('--warm')) await Guest.warmUp();
  let started = performance.now();
  const guest = await Guest.create({ source, programName: 'pause.js', limits: DEFAULT_GUEST_LIMITS, world });
  guest.deliver({ kind: 'start' });
  const bootMs = performance.now() - started;
  let eventMaxMs = 0;
  for (let id = 1; id <= 6; id++) {
    started = performance.now();
    guest.deliver({ kind: 'request', id, method: 'GET', path: id % 2 ? `/q?q=${id}` : '/clone', headers: [['host', '127.0.0.1:8080']], body: '' });
    eventMaxMs = Math.max(eventMaxMs, performance.now() - started);
  }
  guest.dispose();
  console.log(JSON.stringify({ bootMs, eventMaxMs }));
} else {
  const processes = Number(option('--processes', '7'));
  const runs = [];
  for (let i = 0; i < processes; i++) {
    const child = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--child', '--dist', dist, ...(args.includes('--warm') ? ['--warm'] : [])], { encoding: 'utf8' });
    if (child.status !== 0) throw new Error(child.stderr);
    runs.push(JSON.parse(child.stdout));
  }
  const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
  const show = (key) => `median ${median(runs.map((r) => r[key])).toFixed(1)} ms, max ${Math.max(...runs.map((r) => r[key])).toFixed(1)} ms`;
  console.log(`${dist}: ${processes} fresh processes${args.includes('--warm') ? ', each warmed up first (Guest.warmUp)' : ''}`);
  console.log(`  boot (Guest.create + start):              ${show('bootMs')}`);
  console.log(`  longest of the first 6 URL/clone events:  ${show('eventMaxMs')}`);
}
