// Benchmark guest: the smallest handler there is (the cost of Lockstep itself per request).
export default {
  fetch() {
    return 'ok';
  },
};
