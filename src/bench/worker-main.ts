// Entry point of a bench worker process: `node dist/bench/worker-main.js '<task JSON>'` runs one
// task and prints its result as one JSON line. Pinning is done by whoever spawns it.
import { assertNever } from '../assert.js';
import { runLoopTask, type LoopTask } from './in-process.js';
import { runLoadTask, type LoadTask } from './load-worker.js';
import { runReplayTask, type ReplayTask } from './replay-speed.js';
import { runFailoverTask, type FailoverTask } from './failover.js';
import { runWsEcho, runWsRtt, type WsEchoTask, type WsRttTask } from './ws-rtt.js';
import { runHttpOk, type HttpOkTask } from './http-ok.js';

export type WorkerTask = LoadTask | LoopTask | ReplayTask | FailoverTask | WsEchoTask | WsRttTask | HttpOkTask;

async function runTask(task: WorkerTask): Promise<unknown> {
  switch (task.kind) {
    case 'load':
      return runLoadTask(task);
    case 'guest-deliver':
    case 'raw-call':
      return runLoopTask(task);
    case 'replay':
      return runReplayTask(task);
    case 'failover':
      return runFailoverTask(task);
    case 'ws-echo':
      return runWsEcho();
    case 'ws-rtt':
      return runWsRtt(task);
    case 'http-ok':
      return runHttpOk(task);
    default:
      return assertNever(task, 'bench task');
  }
}

runTask(JSON.parse(process.argv[2] ?? '{}') as WorkerTask).then(
  // Exit once written: a task may leave handles open (keep-alive sockets, timers of a load client).
  (result) => process.stdout.write(JSON.stringify(result) + '\n', () => process.exit(0)),
  (error: unknown) => {
    process.stderr.write(`bench worker: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  },
);
