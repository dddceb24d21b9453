// Failures of time travel over a recording (`lockstep inspect`, `lockstep upgrade-check`): one class
// per failure, each with a stable code, a message saying what happened and what to do.
import { LockstepError } from '../errors.js';

/** `inspect --at N` (or `.at N`) names an entry the log does not hold. */
export class NoSuchEntryError extends LockstepError {
  readonly code = 'LOCKSTEP_INSPECT_NO_SUCH_ENTRY';
  override readonly exitCode = 2;
  constructor(
    readonly asked: number,
    readonly firstSeq: number,
    readonly lastSeq: number,
    logPath: string,
  ) {
    super(
      asked > lastSeq
        ? `${logPath} ends at entry #${lastSeq}; there is no entry #${asked}. Ask for #${firstSeq}..#${lastSeq} (without --at: the end of the log).`
        : firstSeq > 1
          ? `${logPath} was cut at a checkpoint: it holds entries #${firstSeq}..#${lastSeq}, so the state at #${asked} (before the cut) is gone. Ask for #${firstSeq}..#${lastSeq}.`
          : `There is no entry #${asked}: entries are numbered from #1. Ask for #1..#${lastSeq}.`,
    );
  }
}

/** The expression evaluated in the guest threw (or its promise rejected, or it ran past the CPU budget). */
export class EvalThrewError extends LockstepError {
  readonly code = 'LOCKSTEP_INSPECT_EVAL_THREW';
  override readonly exitCode = 1;
  constructor(
    readonly expression: string,
    readonly guestMessage: string,
    readonly atSeq: number,
  ) {
    super(`The expression threw in the guest (state after entry #${atSeq}): ${guestMessage}. The state is unchanged; fix the expression and try again.`);
  }
}

/** A command of the inspect session that it does not know, or with a bad argument. */
export class InspectCommandError extends LockstepError {
  readonly code = 'LOCKSTEP_INSPECT_COMMAND';
  override readonly exitCode = 2;
}

/** `.find TEXT` (or `.next`, `.prev`) found nothing in that direction; the position is unchanged. */
export class NothingThereError extends LockstepError {
  readonly code = 'LOCKSTEP_INSPECT_NOTHING_THERE';
  override readonly exitCode = 1;
}

/** upgrade-check needs the answers the recording released: `<log>.answers`, written by `lockstep run --record`. */
export class NoRecordedAnswersError extends LockstepError {
  readonly code = 'LOCKSTEP_UPGRADE_NO_ANSWERS';
  override readonly exitCode = 4;
  constructor(logPath: string, answersPath: string, why: string) {
    super(
      `${logPath} has no usable recorded answers (${answersPath}: ${why}), so there is nothing to compare the new program's answers with. ` +
        'Record the history again with `lockstep run --record` from this release, which writes the answers beside the log.',
    );
  }
}

/** A recording cut at a checkpoint: the history before the cut is gone and another program cannot start from the old one's checkpoint. */
export class HistoryCutError extends LockstepError {
  readonly code = 'LOCKSTEP_UPGRADE_HISTORY_CUT';
  override readonly exitCode = 4;
  constructor(logPath: string, firstSeq: number) {
    super(
      `${logPath} was cut at a checkpoint and starts at entry #${firstSeq}: the history before the cut (#1..#${firstSeq - 1}) is gone, so it cannot be checked. ` +
        "A different program cannot start from the old program's checkpoint (the heap in it is the old program's); it must replay from entry #1. " +
        'Record with a larger --record-bytes-max (or without checkpoints) to keep whole histories for upgrade checks.',
    );
  }
}

/** upgrade-check was given a directory without any log in it. */
export class NoLogsError extends LockstepError {
  readonly code = 'LOCKSTEP_UPGRADE_NO_LOGS';
  override readonly exitCode = 2;
}

/** The log file named cannot be opened (missing, unreadable, a directory where a file was expected). */
export class LogUnreadableError extends LockstepError {
  readonly code = 'LOCKSTEP_LOG_UNREADABLE';
  override readonly exitCode = 2;
  constructor(logPath: string, cause: string) {
    super(`Cannot read the log ${logPath} (${cause}). Check the path: a log is the file \`lockstep run --record FILE\` wrote.`);
  }
}

/** The primary refused this shadow for good (it lacks the history from entry #1, another runtime or limits, a wrong secret). */
export class ShadowRefusedError extends LockstepError {
  readonly code: string;
  override readonly exitCode: number;
  constructor(refusalCode: string, message: string) {
    super(`The primary refused this shadow for good (${refusalCode}): ${message}`);
    this.code = refusalCode === 'LOCKSTEP_SHADOW_NO_HISTORY' ? refusalCode : 'LOCKSTEP_SHADOW_REFUSED';
    this.exitCode = refusalCode === 'LOCKSTEP_SHADOW_NO_HISTORY' ? 4 : 1;
  }
}

/** `lockstep switchover --to URL` names a node that cannot be reached, or that is not a shadow. */
export class SwitchoverTargetError extends LockstepError {
  readonly code = 'LOCKSTEP_SWITCHOVER_NOT_SHADOW';
  override readonly exitCode = 2;
}

/** The shadow has seen a divergence: its program does not answer as the primary's does, so it must not take over. */
export class SwitchoverDivergedError extends LockstepError {
  readonly code = 'LOCKSTEP_SWITCHOVER_DIVERGED';
  override readonly exitCode = 3;
}

/** The shadow has not followed the K entries asked for yet. */
export class SwitchoverTooEarlyError extends LockstepError {
  readonly code = 'LOCKSTEP_SWITCHOVER_TOO_EARLY';
  override readonly exitCode = 4;
}

/** The switchover was refused or abandoned on the way (not following, the primary refused, a claim lost): nothing was handed over unless it says so. */
export class SwitchoverFailedError extends LockstepError {
  override readonly exitCode = 5;
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}
