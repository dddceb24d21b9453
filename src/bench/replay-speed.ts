// How fast a recorded log replays offline (`replayLog`, as `lockstep replay` does), in events/s.
// The JIT matters (a 1k-event log replays 5x faster on its fifth run than on its first), so it
// replays to warm up (at least twice, until budgetMs/2 has passed), then again until budgetMs has
// passed (at least once); events/s is total events over total replay time of the measured runs.
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
  const RUNS_MAX = 50;
  let warm = 0;
  for (let run = 0; run < RUNS_MAX && (run < 2 || warm < task.budgetMs / 2); run++) warm += (await replayLog(task.log, task.program)).elapsedMs;
  let events = 0;
  let elapsedMs = 0;
  for (let run = 0; run < RUNS_MAX && (run === 0 || elapsedMs < task.budgetMs); run++) {
    const summary = await replayLog(task.log, task.program);
    events += summary.events;
    elapsedMs += summary.elapsedMs;
  }
  return { events, elapsedMs, eventsPerS: (events * 1000) / elapsedMs };
}
