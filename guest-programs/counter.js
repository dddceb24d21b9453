// A counter: POST /increment adds one (persisted to counter.json), GET /count reads it.
// Shows state that survives failover, disk reads and writes, and the clock.
let count = null;

async function load() {
  if (count === null) {
    try {
      count = JSON.parse(await fs.readFile('counter.json')).count;
    } catch {
      count = 0;
    }
  }
  return count;
}

export default {
  async fetch(request) {
    if (request.method === 'POST' && request.path === '/increment') {
      await load();
      count += 1;
      const value = count;
      await fs.writeFile('counter.json', JSON.stringify({ count: value, at: new Date().toISOString() }));
      return { body: { count: value } };
    }
    if (request.path === '/count') return { body: { count: await load() } };
    return { status: 404, body: { error: 'not_found' } };
  },
};
