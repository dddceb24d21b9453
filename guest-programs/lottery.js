// A lottery: POST /enter {name} adds an entrant, POST /draw picks a winner with Math.random and
// crypto.getRandomValues, GET /draws lists past draws with their timestamps (lottery.json).
// Shows randomness that a replica reproduces exactly from the log.
let state = { entrants: [], draws: [] };
let loading = null;

function load() {
  loading ??= fs.readFile('lottery.json').then(
    (text) => { state = JSON.parse(text); },
    () => {},
  );
  return loading;
}

function save() {
  return fs.writeFile('lottery.json', JSON.stringify(state));
}

export default {
  async fetch(request) {
    await load();
    if (request.method === 'POST' && request.path === '/enter') {
      let name;
      try { name = JSON.parse(request.body).name; } catch { name = undefined; }
      if (typeof name !== 'string' || name.length === 0 || name.length > 64) return { status: 400, body: { error: 'name must be a string of 1..64 characters' } };
      if (!state.entrants.includes(name)) state.entrants.push(name);
      await save();
      return { body: { entrants: state.entrants.length } };
    }
    if (request.method === 'POST' && request.path === '/draw') {
      if (state.entrants.length === 0) return { status: 409, body: { error: 'no_entrants' } };
      const word = crypto.getRandomValues(new Uint32Array(1))[0];
      const spin = Math.floor(Math.random() * 1_000_000);
      const winner = state.entrants[(word + spin) % state.entrants.length];
      const draw = { ticket: crypto.randomUUID(), winner, of: state.entrants.length, at: new Date().toISOString() };
      state.draws.push(draw);
      state.entrants = [];
      await save();
      return { body: draw };
    }
    if (request.method === 'GET' && request.path === '/draws') return { body: { draws: state.draws } };
    return { status: 404, body: { error: 'not_found' } };
  },
};
