// Replicated vs unreplicated, one workload at a time: the same guest served by `lockstep run`
// and by a primary + secondary pair (each node pinned to its own core, the load generator light
// and on the secondary's core in both), measured once per call. Besides requests/s and latency it
// reads each node's CPU time (/proc/<pid>/stat), the primary's log bytes and events (its status,
// before and after), and samples the secondary's lag from both statuses while the load runs.
import { rm } from 'node:fs/promises';
import type { Configuration } from './configurations.js';
import { WINDOW_END_LINE, WINDOW_START_LINE, type LoadResult, type LoadTask } from './load-worker.js';
import type { Pinning } from './pinning.js';
import { cpuMsOf } from './proc-cpu.js';
import { runWorker } from './processes.js';
import type { RunBudget } from './runner.js';
import { workloadFor } from './workloads.js';

export interface PairSample {
  /** Throughput phase: `concurrency` closed-loop clients (saturates the node). */
  load: LoadResult;
  /** Latency phase, same nodes afterwards: one client at a time (no queueing, just the path); absent when skipped. */
  latency?: LoadResult;
  /** Wire bytes per request sent (request line + headers + body). */
  wireBytesPerRequest: number;
  /** CPU milliseconds per request answered in the measured window, per node role (CPU time read as the window opens and closes: warm-up and V8's compiling left out). */
  cpuMsPerRequest: Record<string, number>;
  /** Replicated only. */
  log?: {
    /** Bytes the primary sent on the logging channel per request served. */
    bytesPerRequest: number;
    /** Events the primary executed per request served. */
    eventsPerRequest: number;
    /** Log entries per second at the primary over the sampled window. */
    entriesPerS: number;
    /** Sampled primary lastSeq - secondary replayedSeq (entries not yet replayed). */
    lagEntries: number[];
    /** Channel frames the primary sent (batches, heartbeats) and received (acks, heartbeats, reports) per request served. */
    framesSentPerRequest: number;
    framesReceivedPerRequest: number;
  };
}

const SAMPLE_INTERVAL_MS = 100;

async function statusOf(url: string): Promise<Record<string, any> | undefined> {
  try {
    const response = await fetch(`${url}/_lockstep/status`, { signal: AbortSignal.timeout(2000) });
    return (await response.json()) as Record<string, any>;
  } catch {
    return undefined;
  }
}

/** Options of one measurement: `ratePerS` offers a fixed load instead of a closed loop, and `latency: false` skips the one-client phase. */
export interface PairMeasureOptions {
  ratePerS?: number;
  latency?: boolean;
}

export async function measurePair(configuration: Configuration, program: string, budget: RunBudget, pinning: Pinning, workDir: string, options: PairMeasureOptions = {}): Promise<PairSample> {
  await rm(workDir, { recursive: true, force: true });
  const target = await configuration.start({ program, workDir, pinning });
  const primary = target.nodes.find((n) => n.role !== 'secondary')!;
  const secondary = target.nodes.find((n) => n.role === 'secondary');
  let load: LoadResult;
  let latency: LoadResult | undefined;
  const cpuNow = () => new Map(target.nodes.map((n) => [n.role, cpuMsOf(n.pid)]));
  let cpuBefore: Map<string, number | undefined> | undefined;
  let cpuAfter: Map<string, number | undefined> | undefined;
  const statusBefore = await statusOf(primary.url);
  const lags: number[] = [];
  const seqSamples: { t: number; seq: number }[] = [];
  let sampling = true;
  // Both kinds of node get the same status polling, so it costs both configurations alike.
  const sampler = (async () => {
    while (sampling) {
      const [p, s] = await Promise.all([statusOf(primary.url), secondary ? statusOf(secondary.url) : undefined]);
      if (p && typeof p.lastSeq === 'number') {
        seqSamples.push({ t: performance.now(), seq: p.lastSeq });
        if (s && typeof s.replayedSeq === 'number') lags.push(Math.max(0, p.lastSeq - s.replayedSeq));
      }
      await new Promise((r) => setTimeout(r, SAMPLE_INTERVAL_MS));
    }
  })();
  let statusAfter: Record<string, any> | undefined;
  try {
    const task: LoadTask = { kind: 'load', url: target.url, workload: workloadFor(program), concurrency: budget.concurrency, warmupMs: budget.warmupMs, durationMs: budget.durationMs, ratePerS: options.ratePerS };
    load = await runWorker<LoadResult>(pinning, 'load', task, (line) => {
      if (line === WINDOW_START_LINE) cpuBefore = cpuNow();
      if (line === WINDOW_END_LINE) cpuAfter = cpuNow();
    });
    sampling = false;
    await sampler;
    statusAfter = await statusOf(primary.url);
    if (options.latency !== false) {
      const oneClient: LoadTask = { ...task, ratePerS: undefined, concurrency: 1, warmupMs: Math.min(200, task.warmupMs), durationMs: Math.max(200, task.durationMs / 2) };
      latency = await runWorker<LoadResult>(pinning, 'load', oneClient);
    }
  } finally {
    sampling = false;
    await target.stop();
  }
  if (load.ok === 0) throw new Error(`${configuration.name} answered no request for ${program} (${load.errors} errors, first: ${load.firstError ?? 'none'})`);
  const cpuMsPerRequest: Record<string, number> = {};
  for (const node of target.nodes) {
    const before = cpuBefore?.get(node.role);
    const after = cpuAfter?.get(node.role);
    if (before !== undefined && after !== undefined) cpuMsPerRequest[node.role] = (after - before) / load.ok;
  }
  const sample: PairSample = { load, latency, wireBytesPerRequest: load.wireBytesSent / load.requestsSent, cpuMsPerRequest };
  if (secondary) {
    if (!statusBefore || !statusAfter || typeof statusAfter.logBytesSent !== 'number') throw new Error(`the primary's status has no logBytesSent: ${JSON.stringify(statusAfter)}`);
    const first = seqSamples[0];
    const last = seqSamples[seqSamples.length - 1];
    sample.log = {
      bytesPerRequest: (statusAfter.logBytesSent - statusBefore.logBytesSent) / load.totalOk,
      eventsPerRequest: (statusAfter.events - statusBefore.events) / load.totalOk,
      entriesPerS: first && last && last.t > first.t ? ((last.seq - first.seq) * 1000) / (last.t - first.t) : NaN,
      lagEntries: lags,
      framesSentPerRequest: ((statusAfter.logFramesSent ?? NaN) - (statusBefore.logFramesSent ?? NaN)) / load.totalOk,
      framesReceivedPerRequest: ((statusAfter.logFramesReceived ?? NaN) - (statusBefore.logFramesReceived ?? NaN)) / load.totalOk,
    };
  }
  return sample;
}
