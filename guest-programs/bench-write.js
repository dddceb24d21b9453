// Benchmark guest: a write per request. Every request takes the next count, awaits writing it to
// the state file, then answers it: the answer may leave only once that write is on disk.
let count = 0;

export default {
  async fetch() {
    const mine = ++count;
    await fs.writeFile('bench-write.txt', String(mine));
    return String(mine);
  },
};
