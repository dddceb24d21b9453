// `lockstep replay`: re-executes a recorded log against the program, touching no clock, disk or
// network: every input comes from the log. Succeeds with a summary, or throws the divergence.
import { checkHeaderCompatible } from '../log/codec.js';
import { readLogFile } from '../log/log-file.js';
import type { LogHeader } from '../log/entries.js';
import type { OutputEffect } from '../sandbox/effects.js';
import { EntryQueue } from './entry-queue.js';
import { Executor } from './executor.js';
import { loadProgram, RUNTIME_ID } from './program.js';

export interface ReplaySummary {
  header: LogHeader;
  entries: number;
  events: number;
  checks: number;
  outputs: number;
  /** Digest of every output the replay produced (equals the recording's final check digest). */
  outputsDigest: string;
  cpuPolls: number;
  elapsedMs: number;
}

export async function replayLog(logPath: string, programPath: string, onOutput?: (output: OutputEffect) => void): Promise<ReplaySummary> {
  const program = await loadProgram(programPath);
  const { header, entries } = readLogFile(logPath);
  checkHeaderCompatible({ formatVersion: header.formatVersion, runtime: RUNTIME_ID, programHash: program.hash, limits: header.limits }, header);
  const started = performance.now();
  const queue = new EntryQueue();
  queue.push(1, entries);
  let outputs = 0;
  let checks = 0;
  const executor = await Executor.bootReplay(
    {
      source: program.source,
      programName: program.name,
      limits: header.limits,
      hooks: {
        onEntry: () => {},
        onOutput: (output) => {
          outputs++;
          onOutput?.(output.effect);
        },
        actions: { armTimer() {}, clearTimer() {}, startRead() {} },
      },
    },
    queue,
  );
  try {
    for (let entry = executor.replayNext(); entry; entry = executor.replayNext()) {
      if (entry.kind === 'check') checks++;
    }
    return {
      header,
      entries: entries.length,
      events: executor.eventsDelivered,
      checks,
      outputs,
      outputsDigest: executor.outputsDigest(),
      cpuPolls: executor.cpuPollsTotal,
      elapsedMs: performance.now() - started,
    };
  } finally {
    executor.dispose();
  }
}
