// The load generator (runs in its own process, pinned to the load core): a closed loop of
// `concurrency` keep-alive HTTP clients sending one fixed request for a fixed time, after a
// short warm-up that is not counted. Light on purpose: no idempotency keys, no retries.
import { Agent, request } from 'node:http';
import { percentile } from './stats.js';
import { requestSource, type BenchWorkload } from './workloads.js';

export interface LoadTask {
  kind: 'load';
  url: string;
  workload: BenchWorkload;
  concurrency: number;
  warmupMs: number;
  durationMs: number;
}

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
  /** Requests sent, warm-up included. */
  requestsSent: number;
  /**
   * Bytes of those requests on the wire (request line, headers, body), from the sockets'
   * bytesWritten: the network input the node under test had to take in.
   */
  wireBytesSent: number;
}

export async function runLoadTask(task: LoadTask): Promise<LoadResult> {
  const target = new URL(task.url);
  const agent = new Agent({ keepAlive: true, maxSockets: task.concurrency });
  const next = requestSource(task.workload);
  let issued = 0;
  const sockets = new Set<import('node:net').Socket>();

  const once = () =>
    new Promise<{ ok: boolean; non2xx?: boolean; error?: string }>((resolve) => {
      const r = next(issued++);
      const body = Buffer.from(r.body ?? '', 'utf8');
      const headers: Record<string, string | number> = { ...r.headers, 'content-length': body.length };
      const req = request(
        { host: target.hostname, port: target.port, path: r.path, method: r.method, headers, agent },
        (res) => {
          res.on('data', () => {});
          const status = res.statusCode ?? 0;
          res.on('end', () => resolve(status < 500 ? { ok: true, non2xx: status < 200 || status >= 300, error: `HTTP ${status}` } : { ok: false, error: `HTTP ${status}` }));
          res.on('error', (e) => resolve({ ok: false, error: String(e) }));
        },
      );
      req.on('socket', (socket) => sockets.add(socket));
      req.on('error', (e) => resolve({ ok: false, error: String(e) }));
      req.end(body);
    });

  const start = performance.now();
  const measureFrom = start + task.warmupMs;
  const measureTo = measureFrom + task.durationMs;
  const latencies: number[] = [];
  let ok = 0;
  let non2xx = 0;
  let errors = 0;
  let totalOk = 0;
  let firstError: string | undefined;
  let lastEnd = measureFrom;
  const worker = async () => {
    for (;;) {
      const sent = performance.now();
      if (sent >= measureTo) return;
      const result = await once();
      const done = performance.now();
      if (result.ok) totalOk++;
      if (sent < measureFrom) continue; // warm-up
      lastEnd = Math.max(lastEnd, done);
      if (result.ok) {
        ok++;
        if (result.non2xx) {
          non2xx++;
          firstError ??= result.error;
        }
        latencies.push(done - sent);
      } else {
        errors++;
        firstError ??= result.error;
        if (errors > 1000 && ok === 0) return; // the target is broken: stop hammering it
      }
    }
  };
  await Promise.all(Array.from({ length: task.concurrency }, worker));
  let wireBytesSent = 0;
  for (const socket of sockets) wireBytesSent += socket.bytesWritten;
  agent.destroy();
  const elapsedMs = Math.max(lastEnd, measureTo) - measureFrom;
  return {
    ok,
    non2xx,
    errors,
    totalOk,
    elapsedMs,
    requestsPerS: (ok * 1000) / elapsedMs,
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    firstError,
    requestsSent: issued,
    wireBytesSent,
  };
}
