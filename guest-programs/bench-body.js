// Benchmark guest: request-body-heavy. The load sends POST with a 4 KB body; the answer is its length.
export default {
  fetch(request) {
    return String(request.body.length);
  },
};
