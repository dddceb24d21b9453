// Benchmark guest: the state of bench-storage.js (64 keys) in memory, written whole as JSON with
// fs.writeFile per request (awaited), then answered: the file-per-request way of keeping state.
const KEYS = 64;
const state = {};
let count = 0;

export default {
  async fetch() {
    const mine = ++count;
    state[`key-${mine % KEYS}`] = { count: mine, note: 'a small value of about fifty bytes' };
    await fs.writeFile('state.json', JSON.stringify(state));
    return String(mine);
  },
};
