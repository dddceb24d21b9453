// Measures one configuration once: starts its nodes, drives them with the pinned load generator
// for a fixed time at a fixed concurrency, stops them, and (when it recorded) reads the log.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Configuration } from './configurations.js';
import type { LoopResult, LoopTask } from './in-process.js';
import { analyzeLog, type LogAnalysis } from './log-analysis.js';
import type { LoadResult, LoadTask } from './load-worker.js';
import type { Pinning } from './pinning.js';
import { spawn } from 'node:child_process';
import { pinned } from './pinning.js';
import { PROJECT_ROOT, runWorker, WORKER_SCRIPT } from './processes.js';
import type { FailoverTask, FailoverTrial } from './failover.js';
import type { WsRttResult, WsRttTask } from './ws-rtt.js';
import type { ReplayResult } from './replay-speed.js';
import { workloadFor } from './workloads.js';

export interface RunBudget {
  durationMs: number;
  warmupMs: number;
  concurrency: number;
}

export interface HttpMeasurement {
  load: LoadResult;
  /** When recorded: the log's figures, and the path of the log (deleted by the caller). */
  log?: LogAnalysis & { path: string };
}

export async function measureHttp(
  configuration: Configuration,
  program: string,
  budget: RunBudget,
  pinning: Pinning,
  workDir: string,
  options: { record?: boolean } = {},
): Promise<HttpMeasurement> {
  await rm(workDir, { recursive: true, force: true });
  const record = options.record && configuration.records ? join(workDir, 'run.lslog') : undefined;
  const target = await configuration.start({ program, workDir, pinning, record });
  let load: LoadResult;
  try {
    const task: LoadTask = { kind: 'load', url: target.url, workload: workloadFor(program), concurrency: budget.concurrency, warmupMs: budget.warmupMs, durationMs: budget.durationMs };
    load = await runWorker<LoadResult>(pinning, 'load', task);
  } finally {
    await target.stop();
  }
  if (load.ok === 0) throw new Error(`${configuration.name} answered no request for ${program} (${load.errors} errors, first: ${load.firstError ?? 'none'})`);
  return { load, log: record ? { ...analyzeLog(record), path: record } : undefined };
}

export function measureLoop(kind: LoopTask['kind'], program: string, budget: RunBudget, pinning: Pinning): Promise<LoopResult> {
  return runWorker<LoopResult>(pinning, 'measure', { kind, program, warmupMs: budget.warmupMs, durationMs: budget.durationMs } satisfies LoopTask);
}

export function measureReplay(log: string, program: string, budget: RunBudget, pinning: Pinning): Promise<ReplayResult> {
  return runWorker<ReplayResult>(pinning, 'measure', { kind: 'replay', log, program, budgetMs: budget.durationMs / 2 });
}

/**
 * A bare ws round trip: an echo server pinned like a primary (node core), a client pinned like a
 * secondary (its core), 35-byte msgpackr messages one at a time.
 */
export async function measureWsRtt(budget: RunBudget, pinning: Pinning): Promise<WsRttResult> {
  const { command, args } = pinned(pinning, 'node', process.execPath, [WORKER_SCRIPT, JSON.stringify({ kind: 'ws-echo' })]);
  const server = spawn(command, args, { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      let out = '';
      let err = '';
      server.stderr!.setEncoding('utf8').on('data', (c: string) => (err += c));
      server.stdout!.setEncoding('utf8').on('data', (c: string) => {
        out += c;
        const line = out.split('\n')[0]!;
        if (out.includes('\n')) resolve((JSON.parse(line) as { port: number }).port);
      });
      server.once('exit', (code) => reject(new Error(`ws echo server exited (${code}): ${err}`)));
      server.once('error', reject);
    });
    const task: WsRttTask = { kind: 'ws-rtt', url: `ws://127.0.0.1:${port}`, warmupMs: budget.warmupMs, durationMs: Math.max(200, budget.durationMs / 2) };
    return await runWorker<WsRttResult>(pinning, 'secondary', task);
  } finally {
    server.kill('SIGKILL');
  }
}

/** One failover trial in a worker pinned to the load core (it starts and kills its own pair). */
export function measureFailover(task: Omit<FailoverTask, 'kind' | 'pinning'>, pinning: Pinning): Promise<FailoverTrial> {
  return runWorker<FailoverTrial>(pinning, 'load', { kind: 'failover', pinning, ...task } satisfies FailoverTask);
}
