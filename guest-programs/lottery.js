// A lottery: POST /enter {name} adds an entrant, POST /draw picks a winner with Math.random and
// crypto.getRandomValues, GET /draws lists past draws with their timestamps (lottery.json).
// Shows randomness that a replica reproduces exactly from the log. In the Fetch style.
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
    const path = new URL(request.url).pathname;
    if (request.method === 'POST' && path === '/enter') {
      let name;
      try { name = (await request.json()).name; } catch { name = undefined; }
      if (typeof name !== 'string' || name.length === 0 || name.length > 64) return Response.json({ error: 'name must be a string of 1..64 characters' }, { status: 400 });
      if (!state.entrants.includes(name)) state.entrants.push(name);
      await save();
      return Response.json({ entrants: state.entrants.length });
    }
    if (request.method === 'POST' && path === '/draw') {
      if (state.entrants.length === 0) return Response.json({ error: 'no_entrants' }, { status: 409 });
      const word = crypto.getRandomValues(new Uint32Array(1))[0];
      const spin = Math.floor(Math.random() * 1_000_000);
      const winner = state.entrants[(word + spin) % state.entrants.length];
      const draw = { ticket: crypto.randomUUID(), winner, of: state.entrants.length, at: new Date().toISOString() };
      state.draws.push(draw);
      state.entrants = [];
      await save();
      return Response.json(draw);
    }
    if (request.method === 'GET' && path === '/draws') return Response.json({ draws: state.draws });
    return Response.json({ error: 'not_found' }, { status: 404 });
  },
};
