// A shadow's recording of the live log it follows (`--record FILE`: the primary's entries and, in
// FILE.answers, the answers the primary released), and where a shadow starts from such a recording
// (`--from-recording FILE`) when the primary no longer keeps its log from entry #1. The recording is
// the pair's history in the format `lockstep run --record` writes, so `upgrade-check` and `inspect`
// read it too.
import { LogWriter } from '../log/log-file.js';
import { readLogFile } from '../log/log-file.js';
import type { Entry, LogHeader } from '../log/entries.js';
import { LockstepError } from '../errors.js';
import { AnswersWriter, readRecordedAnswers, type Answer, type RecordedAnswers } from './answers-file.js';

/** A recording a shadow cannot start from (unreadable, cut at a checkpoint, of another program than its primary's). */
export class ShadowRecordingError extends LockstepError {
  readonly code = 'LOCKSTEP_SHADOW_RECORDING';
  override readonly exitCode = 4;
}

export interface StartingRecording {
  path: string;
  header: LogHeader;
  /** Entries #1..#entries.length. */
  entries: Entry[];
  /** The answers the primary released, if the recording kept them (FILE.answers). */
  answers: RecordedAnswers | undefined;
}

/** Reads a recording to start a shadow from: it must hold the log from entry #1. */
export async function readStartingRecording(path: string): Promise<StartingRecording> {
  let contents: ReturnType<typeof readLogFile>;
  let answers: RecordedAnswers | undefined;
  try {
    contents = readLogFile(path);
    answers = await readRecordedAnswers(path);
  } catch (error) {
    const why = error instanceof LockstepError ? `${error.message} [${error.code}]` : error instanceof Error ? error.message : String(error);
    throw new ShadowRecordingError(`Cannot start a shadow from ${path}: ${why}`);
  }
  if (contents.firstSeq > 1) {
    throw new ShadowRecordingError(`${path} was cut at a checkpoint and starts at entry #${contents.firstSeq}: a shadow replays from entry #1 (another program cannot start from a checkpoint), so it cannot start from it.`);
  }
  return { path, header: contents.header, entries: contents.entries, answers };
}

/** The recording a shadow writes: entries in order as received, answers as the primary released them. */
export class ShadowRecorder {
  private readonly writers: Promise<{ log: LogWriter; answers: AnswersWriter }>;
  private failure: string | undefined;

  /** Starts FILE with the primary's header and the entries #1..#upTo already held (`held(seq)`). */
  constructor(
    readonly path: string,
    header: LogHeader,
    upTo: number,
    held: (seq: number) => Entry,
    private readonly log: (line: string) => void,
  ) {
    const first: Entry[] = [];
    for (let seq = 1; seq <= upTo; seq++) first.push(held(seq));
    const { firstSeq: _cut, ...whole } = header; // the recording holds the log from #1
    this.writers = Promise.all([LogWriter.create(path, whole), AnswersWriter.create(path, header.programName, header.programHash)]).then(([log, answers]) => {
      if (first.length > 0) log.append(first);
      return { log, answers };
    });
    this.writers.catch((error: unknown) => this.failed(error));
  }

  /** Entries in order, right after those given before (the promise keeps the order of calls). */
  entries(entries: Entry[]): void {
    void this.writers.then(({ log }) => {
      log.append(entries);
      return log.flush();
    }).catch((error: unknown) => this.failed(error));
  }

  answer(seq: number, answer: Answer): void {
    void this.writers.then(({ answers }) => answers.recordAnswer(seq, answer)).catch((error: unknown) => this.failed(error));
  }

  /** A clean end: the answers file says the recording is complete up to `endSeq`. */
  async close(endSeq: number): Promise<void> {
    const { log, answers } = await this.writers;
    await Promise.all([log.close(), answers.close(endSeq)]);
  }

  get error(): string | undefined {
    return this.failure;
  }

  private failed(error: unknown): void {
    if (this.failure !== undefined) return;
    this.failure = error instanceof Error ? error.message : String(error);
    this.log(`the recording ${this.path} failed, nothing more is written to it: ${this.failure}`);
  }
}
