// A cron job: start() arms a setInterval whose ticks record a heartbeat count and a timestamp in
// heartbeat.json; GET /ticks reports them. Shows timers firing as logged events, and the clock.
// In the Fetch style (Request in, Response out).
const INTERVAL_MS = 50;
let ticks = 0;
let lastAt = null;
let lastUptimeMs = 0;

async function tick() {
  ticks += 1;
  lastAt = new Date().toISOString();
  lastUptimeMs = Math.round(performance.now());
  if (ticks % 10 === 0) console.log(`cron: ${ticks} ticks, last at ${lastAt}`);
  await fs.writeFile('heartbeat.json', JSON.stringify({ ticks, lastAt }));
}

export default {
  async start() {
    try {
      ({ ticks, lastAt } = JSON.parse(await fs.readFile('heartbeat.json')));
    } catch {
      // first run: no heartbeat yet
    }
    setInterval(tick, INTERVAL_MS);
  },
  fetch(request) {
    if (request.method === 'GET' && new URL(request.url).pathname === '/ticks') return Response.json({ ticks, lastAt, lastUptimeMs });
    return Response.json({ error: 'not_found' }, { status: 404 });
  },
};
