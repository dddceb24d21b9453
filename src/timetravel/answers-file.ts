// The answers a recording released, in a file beside its log (`<log>.answers`, JSON lines), so that
// `lockstep upgrade-check` needs only the log and the new program. The log itself holds only digests
// of the outputs; the answers are what a new program's answers are compared with.
// Lines: a header, one line per answer (request seq, status, headers, body as text or bodyBase64),
// and `{"end": lastSeq}` after a clean stop. A recording cut at a checkpoint cannot be checked (its
// history before the cut is gone), so a cut leaves only `{"cutBefore": seq}` and stops writing.
import { isUtf8 } from 'node:buffer';
import { open, readFile, type FileHandle } from 'node:fs/promises';
import type { ExecutorHooks } from '../engine/executor.js';
import type { OutputEffect } from '../sandbox/effects.js';

export const ANSWERS_FILE_VERSION = 1;

export function answersPathOf(logPath: string): string {
  return `${logPath}.answers`;
}

/** An answer as recorded, or as a new program gave it: what a client received from the guest. */
export interface Answer {
  status: number;
  headers: Record<string, string>;
  body: Uint8Array;
}

export interface RecordedAnswers {
  /** Keyed by the request's entry seq (its request id). */
  answers: AnswerLines;
  /** The last entry of the log when the recording stopped cleanly; undefined if it did not (killed). */
  endSeq: number | undefined;
  /** Set when the log was cut at a checkpoint: the answers before it are gone. */
  cutBeforeSeq: number | undefined;
}

type AnswerLine = { seq: number; status: number; headers: Record<string, string>; body?: string; bodyBase64?: string };

export function answerOf(effect: Extract<OutputEffect, { type: 'respond' }>): Answer {
  const body = typeof effect.body === 'string' ? new Uint8Array(Buffer.from(effect.body, 'utf8')) : effect.body;
  return { status: effect.status, headers: effect.headers, body };
}

function lineOf(seq: number, answer: Answer): string {
  const bytes = Buffer.from(answer.body.buffer, answer.body.byteOffset, answer.body.length);
  const body = isUtf8(bytes) ? { body: bytes.toString('utf8') } : { bodyBase64: bytes.toString('base64') };
  return JSON.stringify({ seq, status: answer.status, headers: answer.headers, ...body });
}

/** Appends answers as they are released; written once per turn of the event loop, in order. */
export class AnswersWriter {
  private pending: string[] = [];
  private chain: Promise<void> = Promise.resolve();
  private scheduled = false;
  private cut = false;
  private failure: unknown;

  private constructor(
    private readonly file: FileHandle,
    readonly path: string,
  ) {}

  static async create(logPath: string, programName: string, programHash: string): Promise<AnswersWriter> {
    const path = answersPathOf(logPath);
    const file = await open(path, 'w');
    const writer = new AnswersWriter(file, path);
    writer.pending.push(JSON.stringify({ lockstepAnswers: ANSWERS_FILE_VERSION, programName, programHash }));
    writer.schedule();
    return writer;
  }

  /** Any output may be passed: only answers are kept. */
  record(effect: OutputEffect): void {
    if (effect.type === 'respond') this.recordAnswer(effect.requestId, answerOf(effect));
  }

  /** The answer to request #seq as it was released (a shadow records the answers its primary released). */
  recordAnswer(seq: number, answer: Answer): void {
    if (this.cut) return;
    this.pending.push(lineOf(seq, answer));
    this.schedule();
  }

  /** `hooks` that also record every answer (for a host whose outputs are released as they are produced). */
  wrapHooks(hooks: ExecutorHooks): ExecutorHooks {
    return {
      ...hooks,
      onOutput: (output) => {
        this.record(output.effect);
        hooks.onOutput(output);
      },
    };
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  private flush(): Promise<void> {
    if (this.pending.length === 0) return this.chain;
    const text = this.pending.join('\n') + '\n';
    this.pending = [];
    this.chain = this.chain.then(() => this.file.appendFile(text)).catch((error: unknown) => void (this.failure ??= error));
    return this.chain;
  }

  /** The log now starts at #fromSeq: the answers before it are of no use (the history cannot be checked any more). */
  async cutBefore(fromSeq: number): Promise<void> {
    this.cut = true;
    this.pending = [];
    this.chain = this.chain
      .then(async () => {
        await this.file.truncate(0);
        await this.file.write(JSON.stringify({ lockstepAnswers: ANSWERS_FILE_VERSION, cutBefore: fromSeq }) + '\n', 0);
      })
      .catch((error: unknown) => void (this.failure ??= error));
    await this.chain;
  }

  /** After a clean stop: the last entry of the log, so a reader knows no answer is missing. */
  async close(endSeq: number): Promise<void> {
    if (!this.cut) this.pending.push(JSON.stringify({ end: endSeq }));
    await this.flush();
    await this.file.sync().catch(() => {});
    await this.file.close();
    if (this.failure) throw this.failure;
  }
}

/**
 * The recorded answers by request seq, each kept as its line of text and parsed when it is asked for:
 * a long recording holds hundreds of thousands, which as objects would take several times the file.
 */
export class AnswerLines {
  private readonly lines = new Map<number, string>();

  set(seq: number, line: string): void {
    this.lines.set(seq, line);
  }

  get(seq: number): Answer | undefined {
    const line = this.lines.get(seq);
    if (line === undefined) return undefined;
    const a = JSON.parse(line) as AnswerLine;
    const body = a.bodyBase64 !== undefined ? Buffer.from(a.bodyBase64, 'base64') : Buffer.from(a.body ?? '', 'utf8');
    return { status: a.status, headers: a.headers, body: new Uint8Array(body) };
  }

  seqs(): IterableIterator<number> {
    return this.lines.keys();
  }

  get size(): number {
    return this.lines.size;
  }
}

/** The writer puts the entry number first, so an answer line's seq is read without parsing the line. */
const ANSWER_LINE_SEQ = /^\{"seq":(\d+),/;

/** Reads `<log>.answers`; undefined if there is none. A torn last line (a killed recording) is ignored. */
export async function readRecordedAnswers(logPath: string): Promise<RecordedAnswers | undefined> {
  let text: string;
  try {
    text = await readFile(answersPathOf(logPath), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const lines = text.split('\n');
  const result: RecordedAnswers = { answers: new AnswerLines(), endSeq: undefined, cutBeforeSeq: undefined };
  lines.forEach((line, i) => {
    // Every line the writer writes ends with a newline: a last piece without one was torn by a kill.
    if (line === '' || i === lines.length - 1) return;
    const seq = ANSWER_LINE_SEQ.exec(line);
    if (seq) {
      result.answers.set(Number(seq[1]), line);
      return;
    }
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(line) as Record<string, unknown>;
    } catch (error) {
      throw new SyntaxError(`line ${i + 1} is not JSON (${(error as Error).message})`);
    }
    if (typeof parsed.cutBefore === 'number') result.cutBeforeSeq = parsed.cutBefore;
    else if (typeof parsed.end === 'number') result.endSeq = parsed.end;
    else if (parsed.lockstepAnswers !== ANSWERS_FILE_VERSION) {
      throw new SyntaxError(`line ${i + 1} is neither an answer nor a header of answers format ${ANSWERS_FILE_VERSION}`);
    }
  });
  return result;
}
