// Math.random: why it runs from QuickJS's generator seeded by a logged clock read instead of
// logging every call. Measures, in one run, the guest-side cost and the log bytes of both:
//   seeded:  Math.random() inside the guest, nothing logged per call;
//   logged:  8 bytes of host entropy per call through the doorway (crypto.getRandomValues),
//            which is what logging each Math.random would cost.
// Usage: npx tsx scripts/random-alternatives.ts [--calls 20000]
import { cpus } from 'node:os';
import { encodeBatch } from '../src/log/codec.js';
import type { Entry } from '../src/log/entries.js';
import { DEFAULT_GUEST_LIMITS, Guest } from '../src/sandbox/guest.js';
import { LiveWorld } from '../src/world/live-world.js';

const argv = process.argv.slice(2);
const calls = Number(argv[argv.indexOf('--calls') + 1] || 20_000);
const PER_EVENT = 100;

async function measure(body: string): Promise<{ usPerCall: number; bytesPerCall: number }> {
  const entries: Entry[] = [];
  const guest = await Guest.create({
    source: `export default { fetch() { let x = 0; for (let i = 0; i < ${PER_EVENT}; i++) { ${body} } return String(x); } }`,
    programName: 'random.js',
    limits: DEFAULT_GUEST_LIMITS,
    world: new LiveWorld((entry) => entries.push(entry)),
  });
  guest.deliver({ kind: 'start' });
  const before = entries.length;
  const started = performance.now();
  for (let i = 0; i < calls / PER_EVENT; i++) guest.deliver({ kind: 'request', id: i + 2, method: 'GET', path: '/', headers: [], body: '' });
  const elapsedMs = performance.now() - started;
  const logged = entries.slice(before);
  const bytes = logged.length > 0 ? encodeBatch(1, logged).length : 0;
  guest.dispose();
  return { usPerCall: (elapsedMs * 1000) / calls, bytesPerCall: bytes / calls };
}

const seeded = await measure('x += Math.random();');
const logged = await measure('x += crypto.getRandomValues(new Uint32Array(2))[0];');
console.log(`machine: ${cpus()[0]?.model}, ${cpus().length} cores, node ${process.version}; ${calls} calls, ${PER_EVENT} per event`);
console.log(`seeded generator (chosen): ${seeded.usPerCall.toFixed(2)} us/call, ${seeded.bytesPerCall.toFixed(1)} log bytes/call`);
console.log(`logged per call:           ${logged.usPerCall.toFixed(2)} us/call, ${logged.bytesPerCall.toFixed(1)} log bytes/call`);
console.log(`ratio: logging each call is ${(logged.usPerCall / seeded.usPerCall).toFixed(0)}x slower and adds ${logged.bytesPerCall.toFixed(1)} bytes per call`);
