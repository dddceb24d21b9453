// Two V8 CPU profiles (node --cpu-prof) side by side, in microseconds of CPU per request: each
// function's self and inclusive time inside a window that ends just before the profile does (the
// measured load), divided by the requests served in it. Rows sorted by the difference, so what one
// process does per request that the other does not comes first.
//   node scripts/cpuprofile-diff.mjs A.cpuprofile REQUESTS_A B.cpuprofile REQUESTS_B [WINDOW_S] [ROWS]
// WINDOW_S (default 6): the window's length; it ends 0.3 s before the profile's end (the stop signal).
import { readFileSync } from 'node:fs';

const STOP_MARGIN_US = 300_000;

function perRequest(file, requests, windowS) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const child of n.children ?? []) parent.set(child, n.id);
  const label = (n) => `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.split('/').slice(-2).join('/')}:${n.callFrame.lineNumber + 1}`;
  const end = profile.endTime - STOP_MARGIN_US;
  const start = end - windowS * 1e6;
  const self = new Map();
  const inclusive = new Map();
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i];
    const spent = profile.timeDeltas[i + 1] ?? 0; // a sample stands for the time until the next one
    if (t < start || t > end) continue;
    const leaf = profile.samples[i];
    const name = label(byId.get(leaf));
    self.set(name, (self.get(name) ?? 0) + spent / requests);
    const seen = new Set();
    for (let id = leaf; id !== undefined; id = parent.get(id)) {
      const frame = label(byId.get(id));
      if (seen.has(frame)) continue; // recursion counts once
      seen.add(frame);
      inclusive.set(frame, (inclusive.get(frame) ?? 0) + spent / requests);
    }
  }
  const busy = [...self].filter(([name]) => !name.startsWith('(idle)')).reduce((sum, [, us]) => sum + us, 0);
  return { self, inclusive, busy };
}

const [fileA, requestsA, fileB, requestsB, windowS = '6', rows = '40'] = process.argv.slice(2);
if (!fileB) {
  console.error('usage: node scripts/cpuprofile-diff.mjs A.cpuprofile REQUESTS_A B.cpuprofile REQUESTS_B [WINDOW_S] [ROWS]');
  process.exit(2);
}
const a = perRequest(fileA, Number(requestsA), Number(windowS));
const b = perRequest(fileB, Number(requestsB), Number(windowS));
console.log(`busy CPU per request: A ${a.busy.toFixed(1)} us, B ${b.busy.toFixed(1)} us (B - A ${(b.busy - a.busy).toFixed(1)} us)`);
for (const kind of ['self', 'inclusive']) {
  console.log(`\n${kind} us per request:      A       B   B - A  function`);
  const names = new Set([...a[kind].keys(), ...b[kind].keys()]);
  const table = [...names]
    .filter((name) => !name.startsWith('(idle)') && !name.startsWith('(root)'))
    .map((name) => [name, a[kind].get(name) ?? 0, b[kind].get(name) ?? 0])
    .sort((x, y) => Math.abs(y[2] - y[1]) - Math.abs(x[2] - x[1]))
    .slice(0, Number(rows));
  for (const [name, us1, us2] of table) console.log(`${' '.repeat(20)}${us1.toFixed(1).padStart(7)} ${us2.toFixed(1).padStart(7)} ${(us2 - us1).toFixed(1).padStart(7)}  ${name}`);
}
