// A key-value store persisted on disk: PUT/GET/DELETE /kv/<key>, GET /kv lists the keys.
// Shows request bodies, state kept in one file (kv.json), and reads/writes racing with requests.
let store = {};
let loading = null;

function load() {
  loading ??= fs.readFile('kv.json').then(
    (text) => { store = JSON.parse(text); },
    () => { store = {}; },
  );
  return loading;
}

function save() {
  return fs.writeFile('kv.json', JSON.stringify(store));
}

export default {
  async fetch(request) {
    await load();
    if (request.path === '/kv' && request.method === 'GET') {
      return { body: { keys: Object.keys(store).sort(), count: Object.keys(store).length } };
    }
    const match = /^\/kv\/([A-Za-z0-9_.-]{1,64})$/.exec(request.path);
    if (!match) return { status: 404, body: { error: 'not_found' } };
    const key = match[1];
    switch (request.method) {
      case 'GET':
        if (!Object.hasOwn(store, key)) return { status: 404, body: { error: 'no_such_key', key } };
        return { headers: { 'content-type': 'text/plain' }, body: store[key].value };
      case 'PUT':
        store[key] = { value: request.body, updatedAt: new Date().toISOString() };
        await save();
        return { status: 201, body: { key, bytes: request.body.length } };
      case 'DELETE': {
        const existed = Object.hasOwn(store, key);
        delete store[key];
        if (existed) await save();
        return { status: existed ? 200 : 404, body: { key, deleted: existed } };
      }
      default:
        return { status: 405, body: { error: 'method_not_allowed' } };
    }
  },
};
