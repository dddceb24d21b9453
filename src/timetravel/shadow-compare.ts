// What a shadow compares: every answer its program gives (replaying the live log) against the
// answer the primary released to the same request, as upgrade-check compares them. The two arrive
// in either order (the primary releases an answer once its secondary acknowledged it; the shadow
// produces it when it replays), so each waits for the other, within a bound. A divergence is
// counted and remembered, and the shadow keeps following.
import { isUtf8 } from 'node:buffer';
import type { Answer } from './answers-file.js';
import { answersEqual } from './answer-diff.js';
import { answerDifference, type RequestSummary, type UpgradeDifference } from './upgrade-check.js';
import { answerJson } from './upgrade-report.js';

/** Answers waiting for their other half, per side, at most; past it the oldest is counted unchecked. */
export const ANSWERS_WAITING_MAX = 10_000;
/** Characters of a body shown on a timeline line. */
const SNIPPET_CHARS = 120;

export type ShadowDivergence = UpgradeDifference & { atMs: number };

export class AnswerMatcher {
  private readonly produced = new Map<number, Answer>();
  private readonly released = new Map<number, Answer>();
  compared = 0;
  unchecked = 0;
  divergences = 0;
  first: ShadowDivergence | undefined;
  last: ShadowDivergence | undefined;

  constructor(
    private readonly requestOf: (seq: number) => RequestSummary | undefined,
    private readonly onDivergence: (divergence: ShadowDivergence) => void,
  ) {}

  /** The shadow's program answered request #seq. */
  produce(seq: number, answer: Answer): void {
    const recorded = this.released.get(seq);
    if (recorded === undefined) return this.wait(this.produced, seq, answer);
    this.released.delete(seq);
    this.compare(seq, recorded, answer);
  }

  /** The primary released this answer to request #seq. */
  release(seq: number, answer: Answer): void {
    const produced = this.produced.get(seq);
    if (produced === undefined) return this.wait(this.released, seq, answer);
    this.produced.delete(seq);
    this.compare(seq, answer, produced);
  }

  /** An input divergence (the replay stops there): counted and remembered like an answer's. */
  input(difference: UpgradeDifference): void {
    this.record({ ...difference, atMs: Date.now() });
  }

  get waiting(): { produced: number; released: number } {
    return { produced: this.produced.size, released: this.released.size };
  }

  private wait(map: Map<number, Answer>, seq: number, answer: Answer): void {
    map.set(seq, answer);
    if (map.size <= ANSWERS_WAITING_MAX) return;
    map.delete(map.keys().next().value as number);
    this.unchecked++;
  }

  private compare(seq: number, recorded: Answer, produced: Answer): void {
    this.compared++;
    if (answersEqual(recorded, produced)) return;
    this.record({ ...answerDifference(seq, recorded, produced, this.requestOf(seq)), atMs: Date.now() });
  }

  private record(divergence: ShadowDivergence): void {
    this.divergences++;
    this.first ??= divergence;
    this.last = divergence;
    this.onDivergence(divergence);
  }
}

/** One line for the node's timeline (the dashboard shows it): the entry, the request and both sides. */
export function divergenceLine(d: ShadowDivergence): string {
  const request = d.request ? `${d.request.method} ${d.request.path}` : 'no request';
  if (d.kind === 'input') return `entry #${d.seq} (${d.event ?? request}): the log holds ${d.logHolds}; the new program asked for ${d.programAsked}`;
  return `entry #${d.seq} ${request}: primary ${answerSnippet(d.recorded)} | new program ${answerSnippet(d.produced)}`;
}

function answerSnippet(answer: Answer | null): string {
  if (answer === null) return '(no answer)';
  const bytes = Buffer.from(answer.body.buffer, answer.body.byteOffset, answer.body.length);
  const body = isUtf8(bytes) ? bytes.toString('utf8') : `(${bytes.length} bytes)`;
  return `${answer.status} ${body.length > SNIPPET_CHARS ? `${body.slice(0, SNIPPET_CHARS - 1)}…` : body}`;
}

/** A divergence as JSON (bodies as text when they are UTF-8), for status and `--json`. */
export function divergenceJson(d: ShadowDivergence | undefined): Record<string, unknown> | null {
  if (!d) return null;
  const line = divergenceLine(d);
  if (d.kind === 'input') return { ...d, line, canGoOn: false };
  return { kind: d.kind, seq: d.seq, request: d.request, atMs: d.atMs, line, diff: d.diff, recorded: answerJson(d.recorded), produced: answerJson(d.produced), canGoOn: true };
}
