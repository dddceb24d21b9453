// `lockstep replay <log> <program>`: prints a summary and exits 0, or reports the divergence
// (entry number, what the log holds, what the guest asked for) and exits non-zero.
import { createWriteStream } from 'node:fs';
import { replayLog } from '../engine/offline-replay.js';

export async function replayCommand(log: string, program: string, flags: { outputs?: string }, out: (line: string) => void): Promise<number> {
  const outputs = flags.outputs ? createWriteStream(flags.outputs) : undefined;
  try {
    const summary = await replayLog(log, program, outputs ? (effect) => outputs.write(JSON.stringify(effect) + '\n') : undefined);
    out(`replayed ${summary.entries} entries (${summary.events} events, ${summary.checks} checks passed) of ${summary.header.programName} in ${summary.elapsedMs.toFixed(0)} ms`);
    out(`outputs: ${summary.outputs}, digest ${summary.outputsDigest}, cpu polls ${summary.cpuPolls}`);
    return 0;
  } finally {
    if (outputs) await new Promise((resolve) => outputs.end(resolve));
  }
}
