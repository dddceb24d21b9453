// Parses human durations given on the command line ('8s', '500ms', or plain seconds '2.5').
// Shared by every command that takes a time option, so the accepted forms stay the same everywhere.

import { UsageError } from '../errors.js';

/** Longest duration any option accepts: a day, so a typo like '80000' (seconds) is still caught below. */
export const durationMaxMs = 24 * 60 * 60 * 1000;

/**
 * Returns the duration in whole milliseconds. `what` names the option in the error message.
 * Throws UsageError for anything else (negative, empty, unknown unit, over `durationMaxMs`).
 */
export function parseDuration(text: string, what = 'duration'): number {
  const match = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*(ms|s)?\s*$/.exec(text);
  if (!match) {
    throw new UsageError(`${what}: cannot read '${text}' as a duration; write e.g. '8s', '500ms' or '2.5' (seconds).`);
  }
  const value = Number(match[1]);
  const ms = Math.round(match[2] === 'ms' ? value : value * 1000);
  if (ms > durationMaxMs) {
    throw new UsageError(`${what}: '${text}' is longer than the ${durationMaxMs / 3_600_000} h limit.`);
  }
  return ms;
}
