// A counter: POST /increment adds one (persisted to counter.json), GET /count reads it.
// Shows state that survives failover, disk reads and writes, and the clock.
let count = 0;
let loading = null;

// One read for every request: two first requests in flight must not each read the file and
// overwrite the other's increment.
function load() {
  loading ??= fs.readFile('counter.json').then(
    (text) => { count = JSON.parse(text).count; },
    () => { count = 0; },
  );
  return loading;
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
    if (request.path === '/count') {
      await load();
      return { body: { count } };
    }
    return { status: 404, body: { error: 'not_found' } };
  },
};
