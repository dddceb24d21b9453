// How fast a recorded log replays offline (`replayLog`, as `lockstep replay` does), in events/s.
// Replays twice in one process and times the second, so compiling the wasm module is not counted.
import { replayLog } from '../engine/offline-replay.js';

export interface ReplayTask {
  kind: 'replay';
  log: string;
  program: string;
}

export interface ReplayResult {
  events: number;
  elapsedMs: number;
  eventsPerS: number;
}

export async function runReplayTask(task: ReplayTask): Promise<ReplayResult> {
  await replayLog(task.log, task.program);
  const summary = await replayLog(task.log, task.program);
  return { events: summary.events, elapsedMs: summary.elapsedMs, eventsPerS: (summary.events * 1000) / summary.elapsedMs };
}
