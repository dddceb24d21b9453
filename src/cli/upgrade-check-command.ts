// `lockstep upgrade-check <log | dir> <new-program>`: replays recorded histories under a new program
// and reports the first answer that differs, or the first input it asks for differently. Exit 0 when
// every answer is the same, 3 at a difference, 4 when a log cannot be checked (cut, no answers).
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { LockstepError } from '../errors.js';
import { NoLogsError } from '../timetravel/errors.js';
import { upgradeCheck } from '../timetravel/upgrade-check.js';
import { exitCodeOf, failureLines, isFailure, reportLines, summaryLine, toJson, type UpgradeCheckOutcome } from '../timetravel/upgrade-report.js';

export interface UpgradeCheckFlags {
  json?: boolean;
}

export const UPGRADE_CHECK_HELP = `
It needs the log and the answers the recording released (<log>.answers, written by
\`lockstep run --record\`). The new program replays the whole history from entry #1 (it cannot start
from the old program's checkpoints); a log cut at a checkpoint cannot be checked.
Given a directory, every *.log file in it is checked and a summary follows.

Examples:
  lockstep upgrade-check counter.log guest-programs/counter-v2.js
  lockstep upgrade-check recordings/ guest-programs/counter-v2.js --json

Exit codes: 0 every answer is the same, 3 an answer or an input differs (the report says where),
4 a log cannot be checked (cut at a checkpoint, no recorded answers, another runtime or limits),
5 the new program does not load, 2 usage.`;

export async function upgradeCheckCommand(target: string, programPath: string, flags: UpgradeCheckFlags, out: (line: string) => void): Promise<number> {
  const isDirectory = (await stat(target).catch(() => undefined))?.isDirectory() === true;
  const logs = isDirectory ? (await readdir(target)).filter((name) => name.endsWith('.log')).sort().map((name) => join(target, name)) : [target];
  if (logs.length === 0) throw new NoLogsError(`${target} holds no *.log file: give a recorded log, or a directory of them.`);
  const outcomes: UpgradeCheckOutcome[] = [];
  for (const log of logs) {
    let outcome: UpgradeCheckOutcome;
    try {
      outcome = await upgradeCheck(log, programPath);
    } catch (error) {
      // A single log's error ends the command as any error does; in a directory it is one line of the summary.
      if (!isDirectory || !(error instanceof LockstepError) || error.code === 'LOCKSTEP_GUEST_LOAD') throw error;
      outcome = { log, code: error.code, error: error.message, exitCode: error.exitCode };
    }
    outcomes.push(outcome);
    if (!flags.json) for (const line of isFailure(outcome) ? failureLines(outcome) : reportLines(outcome)) out(line);
  }
  if (flags.json) {
    out(JSON.stringify(isDirectory ? { logs: outcomes.map(toJson), summary: summaryLine(outcomes), exitCode: exitCodeOf(outcomes) } : toJson(outcomes[0])));
  } else if (isDirectory) {
    out(summaryLine(outcomes));
  }
  return exitCodeOf(outcomes);
}
