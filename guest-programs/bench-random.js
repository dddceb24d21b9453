// Benchmark guest: random-heavy. Math.random is seeded once at context creation (not logged);
// every crypto.getRandomValues call is a logged `random` value.
const MATH_RANDOMS = 20;
const CRYPTO_CALLS = 5;

export default {
  fetch() {
    let sum = 0;
    for (let i = 0; i < MATH_RANDOMS; i++) sum += Math.random();
    const bytes = new Uint8Array(16);
    for (let i = 0; i < CRYPTO_CALLS; i++) {
      crypto.getRandomValues(bytes);
      sum += bytes[0];
    }
    return String(sum);
  },
};
