// `lockstep replay`: re-executes a recorded log against the program, touching no clock, disk or
// network: every input comes from the log. Succeeds with a summary, or throws the divergence.
// It can start from a checkpoint instead of entry #1, stop at an entry, and save a checkpoint there.
import { readFile, writeFile } from 'node:fs/promises';
import { restoreCheckpoint, stateDigestNow, takeCheckpoint, identityOf } from '../checkpoint/checkpoint.js';
import { readCheckpointHeader } from '../checkpoint/format.js';
import { checkpointPathOf, newestCheckpointUpTo } from '../checkpoint/sidecar.js';
import { CheckpointError } from '../checkpoint/errors.js';
import { checkHeaderCompatible } from '../log/codec.js';
import { readLogFile } from '../log/log-file.js';
import type { LogHeader } from '../log/entries.js';
import type { OutputEffect } from '../sandbox/effects.js';
import { EntryQueue } from './entry-queue.js';
import { Executor, type ExecutorOptions } from './executor.js';
import { loadProgram, RUNTIME_ID } from './program.js';

export interface ReplayOptions {
  /** Stop once entry #to has been replayed (an event's entries are replayed whole, so it may stop a few entries later). */
  to?: number;
  /** Start from this checkpoint file instead of entry #1. */
  fromCheckpoint?: string;
  /** With `to` and no `fromCheckpoint`: start from the newest checkpoint file beside the log at or before `to` (default true). */
  useCheckpoints?: boolean;
  /** Write a checkpoint of the state where the replay stopped to this file. */
  checkpointOut?: string;
  /** Also compute the state digest where the replay stopped (costs a hash of the heap). */
  stateDigest?: boolean;
}

export interface ReplaySummary {
  header: LogHeader;
  /** Entries in the log file. */
  entries: number;
  /** Entries replayed here: #firstSeq..#lastSeq (firstSeq > 1: from the checkpoint after #firstSeq-1). */
  firstSeq: number;
  lastSeq: number;
  /** Events delivered since entry #1 (a checkpoint carries the count before it). */
  events: number;
  checks: number;
  /** Outputs this replay produced (from firstSeq on). */
  outputs: number;
  /** Digest of every output since entry #1 (equals the recording's check digest at the same point). */
  outputsDigest: string;
  /** Digest of the whole state where the replay stopped, if asked for. */
  stateDigest?: string;
  cpuPolls: number;
  elapsedMs: number;
}

export async function replayLog(logPath: string, programPath: string, onOutput?: (output: OutputEffect) => void, options: ReplayOptions = {}): Promise<ReplaySummary> {
  const program = await loadProgram(programPath);
  const { header, entries, firstSeq: logFirstSeq } = readLogFile(logPath);
  checkHeaderCompatible({ formatVersion: header.formatVersion, runtime: RUNTIME_ID, programHash: program.hash, limits: header.limits }, header);
  const started = performance.now();
  let outputs = 0;
  let checks = 0;
  const executorOptions: ExecutorOptions = {
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
  };
  let executor: Executor;
  let firstSeq = 1;
  let fromCheckpoint = options.fromCheckpoint;
  // A log cut at a checkpoint (a bounded recording) can only be replayed from that checkpoint on.
  const cut = logFirstSeq > 1;
  if (fromCheckpoint === undefined && ((options.to !== undefined && options.useCheckpoints !== false) || cut)) {
    fromCheckpoint = (await newestCheckpointUpTo(logPath, options.to ?? Infinity))?.path;
  }
  if (cut && fromCheckpoint === undefined) {
    throw new CheckpointError(
      'LOCKSTEP_CHECKPOINT_MISMATCH',
      `${logPath} was cut to stay bounded: it holds entries from #${logFirstSeq} on, so it replays only from the checkpoint of the state after #${logFirstSeq - 1} ` +
        `(${checkpointPathOf(logPath, logFirstSeq - 1)}), and there is none at or before the entry asked for. Replay with a later --to, or give --from-checkpoint.`,
    );
  }
  if (fromCheckpoint !== undefined) {
    const bytes = await readFile(fromCheckpoint);
    firstSeq = readCheckpointHeader(bytes, fromCheckpoint).header.seq + 1;
    if (firstSeq < logFirstSeq) {
      throw new CheckpointError('LOCKSTEP_CHECKPOINT_MISMATCH', `${fromCheckpoint} holds the state after #${firstSeq - 1}, but ${logPath} starts at #${logFirstSeq}: use a checkpoint at or after #${logFirstSeq - 1}.`);
    }
    const queue = new EntryQueue(firstSeq);
    queue.push(firstSeq, entries.slice(firstSeq - logFirstSeq));
    executor = (await restoreCheckpoint(bytes, program, executorOptions, queue, { source: fromCheckpoint })).executor;
  } else {
    const queue = new EntryQueue();
    queue.push(1, entries);
    executor = await Executor.bootReplay(executorOptions, queue);
  }
  try {
    const to = options.to ?? Infinity;
    while (executor.lastSeq < to) {
      const entry = executor.replayNext();
      if (!entry) break;
      if (entry.kind === 'check') checks++;
    }
    if (options.checkpointOut !== undefined) {
      const checkpoint = await takeCheckpoint(executor, identityOf(program, header.limits));
      await writeFile(options.checkpointOut, checkpoint.bytes);
    }
    const stateDigest = options.stateDigest ? (await stateDigestNow(executor)).digest : undefined;
    return {
      header,
      entries: entries.length,
      firstSeq,
      lastSeq: executor.lastSeq,
      events: executor.eventsDelivered,
      checks,
      outputs,
      outputsDigest: executor.outputsDigest(),
      stateDigest,
      cpuPolls: executor.cpuPollsTotal,
      elapsedMs: performance.now() - started,
    };
  } finally {
    executor.dispose();
  }
}
