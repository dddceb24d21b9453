// Benchmark guest: CPU-bound handler, a fixed loop per request (~10 interrupt polls).
const ITERATIONS = 50_000;

export default {
  fetch() {
    let acc = 0;
    for (let i = 0; i < ITERATIONS; i++) acc = (acc * 31 + i) % 1_000_003;
    return String(acc);
  },
};
