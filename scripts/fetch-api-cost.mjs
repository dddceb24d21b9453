// Measures what the Fetch API costs a guest, in-process (no HTTP, no log): boot (Guest.create and the
// start event) and per-request time of an echo written with plain objects, with Request/Response,
// and with a new URL(request.url) parse on top. Medians of interleaved rounds. Run after a build:
//   npm run build && node scripts/fetch-api-cost.mjs
const { Guest, DEFAULT_GUEST_LIMITS } = await import('../dist/sandbox/guest.js');
const world = { now: () => 1_700_000_000_000, randomBytes: (n) => new Uint8Array(n) };
const SOURCES = {
  plain: `export default { fetch(request) { return { headers: { 'content-type': request.headers['content-type'] ?? 'text/plain' }, body: request.body }; } };`,
  fetch: `export default { async fetch(request) { return new Response(await request.text(), { headers: { 'content-type': request.headers.get('content-type') ?? 'text/plain' } }); } };`,
  'fetch+URL': `export default { async fetch(request) { const url = new URL(request.url); return Response.json({ path: url.pathname, q: url.searchParams.get('q') }); } };`,
};
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

const boots = [];
for (let i = 0; i < 15; i++) {
  const started = performance.now();
  const guest = await Guest.create({ source: SOURCES.plain, programName: 'boot.js', limits: DEFAULT_GUEST_LIMITS, world });
  guest.deliver({ kind: 'start' });
  boots.push(performance.now() - started);
  guest.dispose();
}
console.log(`boot (Guest.create + start): median ${median(boots.slice(2)).toFixed(1)} ms`);

const guests = {};
for (const [name, source] of Object.entries(SOURCES)) {
  guests[name] = await Guest.create({ source, programName: `${name}.js`, limits: DEFAULT_GUEST_LIMITS, world });
  guests[name].deliver({ kind: 'start' });
}
const perRequest = Object.fromEntries(Object.keys(SOURCES).map((name) => [name, []]));
let id = 0;
for (let round = 0; round < 7; round++) {
  for (const name of Object.keys(SOURCES)) {
    const n = 500;
    const started = performance.now();
    for (let i = 0; i < n; i++) {
      guests[name].deliver({ kind: 'request', id: ++id, method: 'POST', path: `/echo?q=${i}`, headers: [['host', '127.0.0.1:8080'], ['content-type', 'text/plain']], body: `hello ${i}` });
    }
    perRequest[name].push(((performance.now() - started) * 1000) / n);
  }
}
for (const [name, values] of Object.entries(perRequest)) console.log(`${name.padEnd(10)} median ${median(values).toFixed(0)} µs per request`);
for (const guest of Object.values(guests)) guest.dispose();
