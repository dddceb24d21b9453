// Benchmark guest: timer-heavy. Each request sets off a chain of 3 zero-delay timers and is
// answered when the last one fires (each firing is a logged `timer` event).
const CHAIN = 3;

export default {
  fetch() {
    return new Promise((resolve) => {
      let left = CHAIN;
      const step = () => {
        left -= 1;
        if (left === 0) resolve('fired');
        else setTimeout(step, 0);
      };
      setTimeout(step, 0);
    });
  },
};
