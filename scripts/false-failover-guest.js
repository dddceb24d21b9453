// Guest for scripts/false-failover.ts: a CPU-bound answer, and /burn which runs until the
// per-event CPU budget stops it (the longest an event can hold the primary's event loop).
export default {
  fetch(request) {
    if (request.path === '/burn') for (;;);
    let acc = 0;
    for (let i = 0; i < 50_000; i++) acc = (acc * 31 + i) % 1_000_003;
    return String(acc);
  },
};
