// `lockstep demo`: parse flags, run the demo, exit 0 only if nothing was lost.
import { fileURLToPath } from 'node:url';
import { parseDuration } from '../client/durations.js';
import { runDemo } from '../demo/demo.js';
import { parseInteger } from './options.js';

export const DEFAULT_DEMO_PROGRAM = fileURLToPath(new URL('../../guest-programs/counter.js', import.meta.url));

export interface DemoFlags {
  program?: string;
  killAfter: string;
  duration: string;
  outputGate?: boolean;
  respawn?: boolean;
  rate: string;
  concurrency: string;
  heartbeatMs: string;
  failureTimeoutMs: string;
  channelDelay?: string;
  seed?: string;
}

export async function demoCommand(flags: DemoFlags, print: (line: string) => void): Promise<number> {
  const outputGate = flags.outputGate !== false;
  const result = await runDemo({
    program: flags.program ?? DEFAULT_DEMO_PROGRAM,
    killAfterMs: parseDuration(flags.killAfter, '--kill-after'),
    durationMs: parseDuration(flags.duration, '--duration'),
    outputGate,
    respawn: flags.respawn === true,
    rate: parseInteger(flags.rate, '--rate', 1, 100_000)!,
    concurrency: parseInteger(flags.concurrency, '--concurrency', 1, 1000)!,
    heartbeatMs: parseInteger(flags.heartbeatMs, '--heartbeat-ms', 5, 60_000)!,
    failureTimeoutMs: parseInteger(flags.failureTimeoutMs, '--failure-timeout-ms', 20, 600_000)!,
    // Without the gate, a slow logging link is what turns a kill into lost answers: show it.
    channelDelayMs: flags.channelDelay !== undefined ? parseDuration(flags.channelDelay, '--channel-delay') : outputGate ? 0 : 150,
    seed: flags.seed === undefined ? undefined : parseInteger(flags.seed, '--seed', 0, 2 ** 31),
    print,
    progress: process.stderr,
  });
  return result.ok ? 0 : 1;
}
