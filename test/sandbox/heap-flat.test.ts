// A long run must not grow the guest's heap: every Web API object a Fetch-style guest makes per
// request must be freed (core-js's URL state once sat in a WeakMap whose values pointed back at
// their keys, which QuickJS never frees: ~1.5 KB leaked per `new URL`, until the guest ran out of memory).
import { describe, expect, it } from 'vitest';
import { nonZeroLength } from '../../src/sandbox/sparse-heap.js';
import { recordRun, type Run } from './in-process.js';

const GUEST = `
export default {
  async fetch(request) {
    const url = new URL(request.url);
    const q = url.searchParams.get('q') ?? '';
    const copy = structuredClone({ q, list: [1, 2, 3], at: new Date(0) });
    const headers = new Headers(request.headers);
    const body = await request.text();
    return Response.json({ q: copy.q, n: body.length, type: headers.get('content-type') });
  },
};`;

/** The guest heap's high-water mark, in bytes (freed memory is not zeroed, so this never shrinks). */
const heapMark = (run: Run) => nonZeroLength(run.executor.heapView());

function serve(run: Run, n: number, from: number): void {
  for (let i = from; i < from + n; i++) {
    const answer = run.ask({ method: 'POST', path: `/search?q=${i}`, body: 'x'.repeat(64), headers: [['content-type', 'text/plain']] });
    expect(answer.status).toBe(200);
  }
}

describe('the guest heap over a long run', () => {
  it('stays flat across thousands of Fetch-style requests (URL, URLSearchParams, structuredClone, Headers, Response)', async () => {
    const run = await recordRun(GUEST);
    try {
      serve(run, 1000, 0); // warm-up: first use of each API, and the allocator settles
      const warm = heapMark(run);
      serve(run, 4000, 1000);
      const grown = heapMark(run) - warm;
      // Leaking even 100 bytes a request would show as 400 KB here.
      expect(grown).toBeLessThan(256 * 1024);
    } finally {
      run.dispose();
    }
  }, 60_000);
});
