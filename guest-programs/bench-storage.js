// Benchmark guest: state in env.storage. Every request puts one of 64 keys (awaiting the write
// that makes it durable), then answers. bench-file.js keeps the same state in a file it rewrites
// whole with fs.writeFile per request: the pair compares the two ways of keeping state.
const KEYS = 64;
let count = 0;

export default {
  async fetch(request, env) {
    const mine = ++count;
    await env.storage.put(`key-${mine % KEYS}`, { count: mine, note: 'a small value of about fifty bytes' });
    return String(mine);
  },
};
