// The load generator (runs in its own process, pinned to the load core): autocannon, a closed loop
// of `concurrency` keep-alive connections sending the workload's requests for a fixed time, after a
// warm-up run that is not counted. Latencies come from autocannon's per-response times (sub-ms;
// its own histogram keeps whole milliseconds). Light on purpose: no idempotency keys, no retries.
import autocannon from 'autocannon';
import { percentile } from './stats.js';
import type { LoadRequest } from '../client/workloads.js';
import { requestSource, type BenchWorkload } from './workloads.js';

export interface LoadTask {
  kind: 'load';
  url: string;
  workload: BenchWorkload;
  concurrency: number;
  warmupMs: number;
  durationMs: number;
  /** Requests per second across all connections (autocannon's overallRate); absent: as fast as answered. */
  ratePerS?: number;
}

/** Lines the load worker prints as its measured window opens and closes (before its result). */
export const WINDOW_START_LINE = '@window start';
export const WINDOW_END_LINE = '@window end';

export interface LoadResult {
  /** Answers from the guest (status below 500) inside the measured window. */
  ok: number;
  /** Of those, answers with a status other than 2xx (the workload does not fit the program). */
  non2xx: number;
  /** Statuses 500 and up and transport errors inside the window. */
  errors: number;
  /** Answers from the guest including the warm-up (every request the node served). */
  totalOk: number;
  elapsedMs: number;
  requestsPerS: number;
  p50Ms: number;
  p99Ms: number;
  /** The first failure seen, to explain errors. */
  firstError?: string;
  /** Requests answered (warm-up and late answers included): the ones whose bytes are counted. */
  requestsSent: number;
  /**
   * Bytes of those requests on the wire (request line, headers, body), from autocannon's request
   * buffers: the network input the node under test had to take in.
   */
  wireBytesSent: number;
}

/**
 * A fixed request is handed to autocannon as it is, so it encodes it once; a generated one is built
 * per request (setupRequest), which costs the load generator's core (the one the secondary shares):
 * rebuilding a 4 KB body per request held a pair's throughput down.
 */
function autocannonRequests(workload: BenchWorkload): autocannon.Request[] {
  const next = requestSource(workload);
  const asAutocannon = (r: LoadRequest): autocannon.Request => ({ method: r.method as autocannon.Request['method'], path: r.path, headers: { ...r.headers }, body: r.body ?? '' });
  if (workload.kind === 'fixed') return [asAutocannon(next(0))];
  let i = 0;
  return [{ setupRequest: (request: autocannon.Request): autocannon.Request => ({ ...request, ...asAutocannon(next(i++)) }) }];
}

/** autocannon checks its stop flag only at its sample ticks (default every second): tick often. */
const SAMPLE_INTERVAL_MS = 20;
/** After the window, wait at most this long for the answers to requests sent inside it. */
const DRAIN_MS_MAX = 10_000;

/**
 * One autocannon run: a warm-up, then the measured window. An answer counts in the window when its
 * request was sent inside it (send time = arrival - autocannon's response time), as a closed loop
 * would count it, or when it is the first answer to a request sent after the warm-up; the run
 * stops once every connection has answered after the window closed.
 */
export function runLoadTask(task: LoadTask): Promise<LoadResult> {
  const requests = autocannonRequests(task.workload);
  const start = performance.now();
  const from = start + task.warmupMs;
  const to = from + task.durationMs;
  const latencies: number[] = [];
  const drained = new Set<unknown>();
  let ok = 0;
  let non2xx = 0;
  let errors = 0;
  let totalOk = 0;
  let answered = 0;
  let wireBytes = 0;
  let lastEnd = to;
  let firstError: string | undefined;
  // Whoever runs us reads each node's CPU time at these lines, so warm-up (V8 compiling) stays out of it.
  let windowLinesPrinted = 0;
  const printWindowLine = () => console.log(windowLinesPrinted++ === 0 ? WINDOW_START_LINE : WINDOW_END_LINE);
  const windowTimers = [setTimeout(printWindowLine, task.warmupMs), setTimeout(printWindowLine, task.warmupMs + task.durationMs)];
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: task.url,
        connections: task.concurrency,
        duration: (task.warmupMs + task.durationMs + DRAIN_MS_MAX) / 1000,
        requests,
        timeout: 10,
        sampleInt: SAMPLE_INTERVAL_MS,
        ...(task.ratePerS ? { overallRate: task.ratePerS } : {}),
      },
      (error) => {
        windowTimers.forEach(clearTimeout);
        // The run may end a moment before the window's timer fires: close the window now.
        if (windowLinesPrinted === 1) printWindowLine();
        if (error) return reject(error);
        const elapsedMs = lastEnd - from;
        resolve({
          ok,
          non2xx,
          errors,
          totalOk,
          elapsedMs,
          requestsPerS: (ok * 1000) / elapsedMs,
          p50Ms: percentile(latencies, 0.5),
          p99Ms: percentile(latencies, 0.99),
          firstError,
          requestsSent: answered,
          wireBytesSent: wireBytes,
        });
      },
    );
    instance.on('response', (client, status, _bytes, ms) => {
      const now = performance.now();
      // The client's current request buffer: exact for fixed requests, one request off for generated ones.
      wireBytes += (client as unknown as { getRequestBuffer(): Buffer | undefined }).getRequestBuffer()?.length ?? 0;
      answered++;
      if (status < 500) totalOk++;
      const sent = now - ms;
      // A window with no answer yet stays open for the next one (a slow node on a loaded machine).
      const counts = sent >= from && (sent < to || ok + errors === 0);
      if (now > to) {
        drained.add(client);
        if (drained.size >= task.concurrency && (ok + errors > 0 || counts)) instance.stop();
      }
      if (!counts) return;
      lastEnd = Math.max(lastEnd, now);
      if (status >= 500) {
        errors++;
        firstError ??= `HTTP ${status}`;
        return;
      }
      ok++;
      latencies.push(ms);
      if (status < 200 || status >= 300) {
        non2xx++;
        firstError ??= `HTTP ${status}`;
      }
    });
    instance.on('reqError', (error) => {
      const now = performance.now();
      if (now >= from && now < to) errors++;
      firstError ??= String(error);
      if (errors > 1000 && ok === 0) instance.stop(); // the target is broken: stop hammering it
    });
  });
}
