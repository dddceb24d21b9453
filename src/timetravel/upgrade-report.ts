// What `lockstep upgrade-check` prints: a report per log (the first difference, the request, the two
// answers side by side, or what the log holds against what the new program asked for), a summary for
// a directory of logs, and the same as JSON for CI.
import { isUtf8 } from 'node:buffer';
import type { Answer } from './answers-file.js';
import type { UpgradeCheckResult } from './upgrade-check.js';

/** A log that could not be checked at all (cut, no answers, another runtime), with its error. */
export interface UpgradeCheckFailure {
  log: string;
  code: string;
  error: string;
  exitCode: number;
}

export type UpgradeCheckOutcome = UpgradeCheckResult | UpgradeCheckFailure;

export function isFailure(outcome: UpgradeCheckOutcome): outcome is UpgradeCheckFailure {
  return 'code' in outcome;
}

export function reportLines(result: UpgradeCheckResult): string[] {
  const head = `upgrade-check ${result.log}: ${result.program}`;
  const counted = `${result.answersCompared} answers compared over ${result.replayedSeq} of ${result.entries} entries`;
  const unchecked = result.answersUnchecked > 0 ? `; ${result.answersUnchecked} answers unchecked (the recording was not stopped cleanly: its last answers may be missing)` : '';
  const d = result.difference;
  if (!d) return [`${head} gives the same answers as ${result.recordedProgram}: ${counted}${unchecked}. OK`];
  const request = d.request ? `request #${d.request.seq}: ${d.request.method} ${d.request.path}` : undefined;
  if (d.kind === 'input') {
    return [
      `${head} asks for inputs differently from ${result.recordedProgram} at entry #${d.seq}`,
      `  during: ${request ?? d.event ?? 'boot'}`,
      `  the log holds:           ${d.logHolds}`,
      `  the new program asked:   ${d.programAsked}`,
      `  (${counted} before it)`,
    ];
  }
  return [
    `${head} answers differently from ${result.recordedProgram} at entry #${d.seq}`,
    `  ${request ?? `request #${d.seq}`}`,
    `  recorded (left) | new program (right):`,
    ...d.diff.map((line) => `    ${line}`),
    `  (${counted}${unchecked})`,
  ];
}

export function failureLines(failure: UpgradeCheckFailure): string[] {
  return [`upgrade-check ${failure.log}: cannot be checked: ${failure.error} [${failure.code}]`];
}

export function summaryLine(outcomes: UpgradeCheckOutcome[]): string {
  const same = outcomes.filter((o) => !isFailure(o) && o.same).length;
  const differ = outcomes.filter((o) => !isFailure(o) && !o.same).length;
  const failed = outcomes.filter(isFailure).length;
  return `${outcomes.length} log${outcomes.length === 1 ? "" : "s"}: ${same} same, ${differ} differ, ${failed} cannot be checked`;
}

/** 0 all the same; 3 any differs; else the exit code of a log that could not be checked. */
export function exitCodeOf(outcomes: UpgradeCheckOutcome[]): number {
  if (outcomes.some((o) => !isFailure(o) && !o.same)) return 3;
  const failure = outcomes.find(isFailure);
  return failure ? failure.exitCode : 0;
}

/** JSON has no bytes: a body is text when it is UTF-8, else bodyBase64. */
export function toJson(outcome: UpgradeCheckOutcome): Record<string, unknown> {
  if (isFailure(outcome)) return { ...outcome };
  const d = outcome.difference;
  if (!d || d.kind === 'input') return { ...outcome };
  return { ...outcome, difference: { ...d, recorded: answerJson(d.recorded), produced: answerJson(d.produced) } };
}

export function answerJson(answer: Answer | null): Record<string, unknown> | null {
  if (answer === null) return null;
  const bytes = Buffer.from(answer.body.buffer, answer.body.byteOffset, answer.body.length);
  return { status: answer.status, headers: answer.headers, ...(isUtf8(bytes) ? { body: bytes.toString('utf8') } : { bodyBase64: bytes.toString('base64') }) };
}
