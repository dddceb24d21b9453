// `lockstep demo`: parse flags, run the demo, exit 0 only if nothing was lost.
import { fileURLToPath } from 'node:url';
import { parseDuration } from '../client/durations.js';
import { runDemo, workloadFor } from '../demo/demo.js';
import { runDemoUi } from '../demo/demo-ui.js';
import { runHostsDemo } from '../demo/hosts-demo.js';
import { exitOnSignals, requireHostsSupport } from '../hosts/shell.js';
import { UsageError } from '../errors.js';
import { parseInteger } from './options.js';

/** A Workers-style URL shortener (Request, Response, URL, env.storage): what a reader would write. */
export const DEFAULT_DEMO_PROGRAM = fileURLToPath(new URL('../../guest-programs/shortener.js', import.meta.url));

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
  /** Serve the dashboard page with Kill/Restart buttons instead of the scripted kill. */
  ui?: boolean;
  /** The pair on two network namespaces with etcd, and a partition instead of a kill (root). */
  hosts?: boolean;
  cutFor: string;
  uiPort: string;
}

export async function demoCommand(flags: DemoFlags, print: (line: string) => void): Promise<number> {
  const outputGate = flags.outputGate !== false;
  if (flags.ui) return demoUi(flags, outputGate, print);
  if (flags.hosts) return demoHosts(flags, outputGate, print);
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

/** The pair's timing and the load, as --ui and --hosts take them. */
function pairAndLoad(flags: DemoFlags, print: (line: string) => void) {
  return {
    rate: parseInteger(flags.rate, '--rate', 1, 100_000)!,
    concurrency: parseInteger(flags.concurrency, '--concurrency', 1, 1000)!,
    heartbeatMs: parseInteger(flags.heartbeatMs, '--heartbeat-ms', 5, 60_000)!,
    failureTimeoutMs: parseInteger(flags.failureTimeoutMs, '--failure-timeout-ms', 20, 600_000)!,
    seed: flags.seed === undefined ? undefined : parseInteger(flags.seed, '--seed', 0, 2 ** 31),
    print,
  };
}

async function demoHosts(flags: DemoFlags, outputGate: boolean, print: (line: string) => void): Promise<number> {
  if (!outputGate || flags.respawn || flags.channelDelay !== undefined) throw new UsageError('--hosts runs the pair with the output rule and a partition that heals by itself. Drop --no-output-gate, --respawn and --channel-delay.');
  await requireHostsSupport('lockstep demo --hosts');
  exitOnSignals(1);
  const ok = await runHostsDemo({
    program: flags.program ?? DEFAULT_DEMO_PROGRAM,
    cutAfterMs: parseDuration(flags.killAfter, '--kill-after'),
    cutForMs: parseDuration(flags.cutFor, '--cut-for'),
    durationMs: parseDuration(flags.duration, '--duration'),
    ...pairAndLoad(flags, print),
    progress: process.stderr,
  });
  return ok ? 0 : 1;
}

async function demoUi(flags: DemoFlags, outputGate: boolean, print: (line: string) => void): Promise<number> {
  if (!outputGate || flags.respawn || flags.channelDelay !== undefined) throw new UsageError('--ui runs the pair with the output rule; the buttons replace --respawn. Drop --no-output-gate, --respawn and --channel-delay.');
  const program = flags.program ?? DEFAULT_DEMO_PROGRAM;
  return runDemoUi({
    program,
    workload: workloadFor(program),
    uiPort: parseInteger(flags.uiPort, '--ui-port', 0, 65535)!,
    ...pairAndLoad(flags, print),
  });
}
