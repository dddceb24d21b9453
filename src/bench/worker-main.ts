// Entry point of a bench worker process: `node dist/bench/worker-main.js '<task JSON>'` runs one
// task and prints its result as one JSON line. Pinning is done by whoever spawns it.
import { runLoopTask, type LoopTask } from './in-process.js';
import { runLoadTask, type LoadTask } from './load-worker.js';
import { runReplayTask, type ReplayTask } from './replay-speed.js';

export type WorkerTask = LoadTask | LoopTask | ReplayTask;

async function runTask(task: WorkerTask): Promise<unknown> {
  switch (task.kind) {
    case 'load':
      return runLoadTask(task);
    case 'guest-deliver':
    case 'raw-call':
      return runLoopTask(task);
    case 'replay':
      return runReplayTask(task);
  }
}

runTask(JSON.parse(process.argv[2] ?? '{}') as WorkerTask).then(
  (result) => process.stdout.write(JSON.stringify(result) + '\n'),
  (error: unknown) => {
    process.stderr.write(`bench worker: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  },
);
