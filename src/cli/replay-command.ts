// `lockstep replay <log> <program>`: prints a summary and exits 0, or reports the divergence
// (entry number, what the log holds, what the guest asked for) and exits non-zero. It can start
// from a checkpoint (--from-checkpoint), stop at an entry (--to) and save a checkpoint there.
import { createWriteStream } from 'node:fs';
import { replayLog } from '../engine/offline-replay.js';
import type { OutputEffect } from '../sandbox/effects.js';
import { parseInteger } from './options.js';

export interface ReplayFlags {
  outputs?: string;
  to?: string;
  fromCheckpoint?: string;
  checkpointOut?: string;
  /** false with --no-checkpoints. */
  checkpoints?: boolean;
  json?: boolean;
}

export async function replayCommand(log: string, program: string, flags: ReplayFlags, out: (line: string) => void): Promise<number> {
  const to = parseInteger(flags.to, '--to', 1, Number.MAX_SAFE_INTEGER);
  const outputs = flags.outputs ? createWriteStream(flags.outputs) : undefined;
  try {
    const summary = await replayLog(log, program, outputs ? (effect) => outputs.write(outputLine(effect) + '\n') : undefined, {
      to,
      fromCheckpoint: flags.fromCheckpoint,
      checkpointOut: flags.checkpointOut,
      useCheckpoints: flags.checkpoints !== false,
      stateDigest: flags.json === true,
    });
    if (flags.json === true) {
      const { header, ...rest } = summary;
      out(JSON.stringify({ programName: header.programName, ...rest }));
      return 0;
    }
    const whole = summary.firstSeq === 1 && summary.lastSeq === summary.entries;
    const from = summary.firstSeq === 1 ? '' : ` (from the checkpoint after #${summary.firstSeq - 1})`;
    const range = whole ? `${summary.lastSeq} entries` : `entries #${summary.firstSeq}..#${summary.lastSeq} of ${summary.entries}${from}`;
    out(`replayed ${range} (${summary.events} events, ${summary.checks} checks passed) of ${summary.header.programName} in ${summary.elapsedMs.toFixed(0)} ms`);
    out(`outputs: ${summary.outputs}, digest ${summary.outputsDigest}, cpu polls ${summary.cpuPolls}`);
    if (flags.checkpointOut) out(`checkpoint of the state after #${summary.lastSeq} written to ${flags.checkpointOut}`);
    return 0;
  } finally {
    if (outputs) await new Promise((resolve) => outputs.end(resolve));
  }
}

/** One output as a JSON line; a bytes body (JSON has no binary) as `bodyBase64`, so it can be compared byte for byte. */
export function outputLine(effect: OutputEffect): string {
  if (effect.type !== 'respond' || typeof effect.body === 'string') return JSON.stringify(effect);
  const { body, ...rest } = effect;
  return JSON.stringify({ ...rest, bodyBase64: Buffer.from(body.buffer, body.byteOffset, body.length).toString('base64') });
}
