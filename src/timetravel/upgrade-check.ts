// `lockstep upgrade-check`: replays a recorded history under another program and compares what it
// answers (status, headers, body) with what the recording released (`<log>.answers`), and what it
// asks of the world with what the log holds. Another program cannot start from the old one's
// checkpoints (their heap is the old program's), so it replays from entry #1; the log's output and
// state digests belong to the old program and are not compared.
import { DivergenceError } from '../errors.js';
import { Executor, type ExecutorOptions } from '../engine/executor.js';
import { loadProgram, RUNTIME_ID } from '../engine/program.js';
import { checkHeaderCompatible } from '../log/codec.js';
import { describeEntry, isEvent, type Entry } from '../log/entries.js';
import { LazyLog } from './lazy-log.js';
import { answerOf, answersPathOf, readRecordedAnswers, type Answer, type RecordedAnswers } from './answers-file.js';
import { answerLines, answersEqual, sideBySide } from './answer-diff.js';
import { HistoryCutError, NoRecordedAnswersError } from './errors.js';
import { LogCursor } from './log-cursor.js';

export interface RequestSummary {
  seq: number;
  method: string;
  path: string;
}

export type UpgradeDifference =
  /** The new program answered request #seq otherwise (or only one of the two answered it). */
  | { kind: 'answer'; seq: number; request: RequestSummary | undefined; recorded: Answer | null; produced: Answer | null; diff: string[] }
  /** The new program asked the world for something else than the log holds at entry #seq. */
  | { kind: 'input'; seq: number; request: RequestSummary | undefined; event: string | undefined; logHolds: string; programAsked: string };

export interface UpgradeCheckResult {
  log: string;
  program: string;
  recordedProgram: string;
  same: boolean;
  /** Entries in the log, and how far the replay got. */
  entries: number;
  replayedSeq: number;
  answersCompared: number;
  /** Answers the new program gave where the recording has none and may have lost it (it was killed, not stopped). */
  answersUnchecked: number;
  difference?: UpgradeDifference;
}

export async function upgradeCheck(logPath: string, programPath: string): Promise<UpgradeCheckResult> {
  const program = await loadProgram(programPath);
  // Opened lazily: the replay decodes it frame by frame, so a long history is not held in memory whole.
  const log = LazyLog.open(logPath);
  const { header, firstSeq } = log;
  if (firstSeq > 1) throw new HistoryCutError(logPath, firstSeq);
  // The program differs on purpose; the format, runtime and limits must still be the recording's.
  checkHeaderCompatible({ formatVersion: header.formatVersion, runtime: RUNTIME_ID, programHash: header.programHash, limits: header.limits }, header);
  const recorded = await readAnswers(logPath);
  if (recorded.cutBeforeSeq !== undefined) throw new HistoryCutError(logPath, recorded.cutBeforeSeq);

  const result: UpgradeCheckResult = {
    log: logPath,
    program: program.name,
    recordedProgram: header.programName,
    same: true,
    entries: log.lastSeq,
    replayedSeq: 0,
    answersCompared: 0,
    answersUnchecked: 0,
  };
  const requestOf = (seq: number): RequestSummary | undefined => {
    const entry = log.entryAt(seq);
    return entry?.kind === 'request' ? { seq, method: entry.method, path: entry.path } : undefined;
  };
  const produced: Array<{ requestId: number; answer: Answer }> = [];
  const answered = new Set<number>();
  const options: ExecutorOptions = {
    source: program.source,
    programName: program.name,
    limits: header.limits,
    controlEntries: 'skip',
    hooks: {
      onEntry: () => {},
      onOutput: ({ effect }) => {
        if (effect.type === 'respond') produced.push({ requestId: effect.requestId, answer: answerOf(effect) });
      },
      actions: { armTimer() {}, clearTimer() {}, startRead() {} },
    },
  };
  /** The first answer of the new program that differs from the recorded one, among those produced so far. */
  const compareProduced = (): UpgradeDifference | undefined => {
    for (const { requestId, answer } of produced.splice(0)) {
      answered.add(requestId);
      const old = recorded.answers.get(requestId);
      if (old === undefined && recorded.endSeq === undefined) {
        result.answersUnchecked++;
        continue;
      }
      result.answersCompared++;
      if (old !== undefined && answersEqual(old, answer)) continue;
      return answerDifference(requestId, old ?? null, answer, requestOf(requestId));
    }
    return undefined;
  };
  const cursor = new LogCursor(log, 1);
  let eventSeq = 1;
  let executor: Executor | undefined;
  try {
    executor = await Executor.bootReplay(options, cursor);
    for (;;) {
      result.replayedSeq = executor.lastSeq;
      const difference = compareProduced() ?? orphanEvent(executor, cursor, requestOf);
      if (difference) return { ...result, same: false, difference };
      const next = cursor.peek();
      if (!next) break;
      if (isEvent(next)) eventSeq = cursor.nextSeq();
      executor.replayNext();
    }
  } catch (error) {
    if (!(error instanceof DivergenceError)) throw error;
    const event = log.entryAt(eventSeq);
    const difference: UpgradeDifference = {
      kind: 'input',
      seq: error.seq,
      request: requestOf(eventSeq),
      event: event && `#${eventSeq} ${describeEntry(event)}`,
      logHolds: error.logHolds,
      programAsked: error.guestAsked,
    };
    return { ...result, replayedSeq: Math.min(executor?.lastSeq ?? 0, error.seq - 1), same: false, difference };
  } finally {
    executor?.dispose();
  }
  // Answers the recording released that the new program never gave.
  const missing = [...recorded.answers.seqs()].filter((seq) => !answered.has(seq)).sort((a, b) => a - b)[0];
  if (missing !== undefined) return { ...result, same: false, difference: answerDifference(missing, recorded.answers.get(missing)!, null, requestOf(missing)) };
  return result;
}

async function readAnswers(logPath: string): Promise<RecordedAnswers> {
  let recorded: RecordedAnswers | undefined;
  try {
    recorded = await readRecordedAnswers(logPath);
  } catch (error) {
    throw new NoRecordedAnswersError(logPath, answersPathOf(logPath), `unreadable: ${(error as Error).message}`);
  }
  if (!recorded) throw new NoRecordedAnswersError(logPath, answersPathOf(logPath), 'no such file');
  return recorded;
}

export function answerDifference(seq: number, recorded: Answer | null, produced: Answer | null, request: RequestSummary | undefined): UpgradeDifference {
  return { kind: 'answer', seq, request, recorded, produced, diff: sideBySide(answerLines(recorded), answerLines(produced)) };
}

/**
 * The next entry completes a timer, read or write the new program never started: the log holds an
 * input it did not ask for (a missing file read, a timer it no longer arms).
 */
export function orphanEvent(executor: Executor, cursor: Pick<LogCursor, 'peek' | 'nextSeq'>, requestOf: (seq: number) => RequestSummary | undefined): UpgradeDifference | undefined {
  const next: Entry | undefined = cursor.peek();
  if (!next) return undefined;
  const asked =
    next.kind === 'timer' && !executor.timers.has(next.timerId)
      ? `no timer #${next.timerId} (it armed no such timer, or cleared it)`
      : next.kind === 'read' && !executor.pendingReads.has(next.opId)
        ? `no file read op ${next.opId} (it issued no such read)`
        : next.kind === 'write' && !executor.pendingWrites.has(next.opId)
          ? `no file write op ${next.opId} (it issued no such write)`
          : undefined;
  if (asked === undefined) return undefined;
  const seq = cursor.nextSeq();
  return { kind: 'input', seq, request: requestOf(seq), event: `#${seq} ${describeEntry(next)}`, logHolds: describeEntry(next), programAsked: asked };
}
