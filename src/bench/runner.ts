// Measures one configuration once: starts its nodes, drives them with the pinned load generator
// for a fixed time at a fixed concurrency, stops them, and (when it recorded) reads the log.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Configuration } from './configurations.js';
import type { LoopResult, LoopTask } from './in-process.js';
import { analyzeLog, type LogAnalysis } from './log-analysis.js';
import type { LoadResult, LoadTask } from './load-worker.js';
import type { Pinning } from './pinning.js';
import { runWorker } from './processes.js';
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
