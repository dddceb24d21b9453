// Benchmark guest: clock-heavy, 50 clock reads per request (each one is a logged `now` value).
const READS = 25;

export default {
  fetch() {
    let sum = 0;
    for (let i = 0; i < READS; i++) {
      sum += Date.now() % 1000;
      sum += new Date().getUTCMilliseconds();
    }
    return String(sum);
  },
};
