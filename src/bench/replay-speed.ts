// How fast a recorded log replays offline (`replayLog`, as `lockstep replay` does), in events/s.
// Replays once to warm up (wasm compile, JIT), then again until `budgetMs` is spent (at least
// once, at most 20 times): events/s is total events over total replay time of those runs.
import { replayLog } from '../engine/offline-replay.js';

export interface ReplayTask {
  kind: 'replay';
  log: string;
  program: string;
  budgetMs: number;
}

export interface ReplayResult {
  events: number;
  elapsedMs: number;
  eventsPerS: number;
}

export async function runReplayTask(task: ReplayTask): Promise<ReplayResult> {
  await replayLog(task.log, task.program);
  let events = 0;
  let elapsedMs = 0;
  for (let run = 0; run < 20 && (run === 0 || elapsedMs < task.budgetMs); run++) {
    const summary = await replayLog(task.log, task.program);
    events += summary.events;
    elapsedMs += summary.elapsedMs;
  }
  return { events, elapsedMs, eventsPerS: (events * 1000) / elapsedMs };
}
