// Benchmark guest: disk-read-heavy. start() writes a 4 KB file; every request reads it back
// (each read completes as a logged `read` event carrying the data).
const FILE = 'bench-disk.txt';
const BYTES = 4096;
let ready = null;

export default {
  start() {
    ready = fs.writeFile(FILE, 'd'.repeat(BYTES));
  },
  async fetch() {
    await ready;
    const data = await fs.readFile(FILE);
    return String(data.length);
  },
};
