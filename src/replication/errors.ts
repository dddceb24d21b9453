// Failures of the replicated pair, each with a stable code and its own exit code.
import { LockstepError } from '../errors.js';

/** This side lost the claim for the next epoch: the other side goes on, this one must stop at once. */
export class FencedError extends LockstepError {
  readonly code = 'LOCKSTEP_FENCED';
  override readonly exitCode = 10;
}

/** The shared directory (where claims live) cannot be reached: nobody may go live on this side. */
export class SharedStorageError extends LockstepError {
  readonly code = 'LOCKSTEP_SHARED_STORAGE';
  override readonly exitCode = 11;
}

/** The primary's retained log no longer starts at #1, so a new secondary cannot be brought up from it. */
export class LogNotRetainedError extends LockstepError {
  readonly code = 'LOCKSTEP_LOG_NOT_RETAINED';
  override readonly exitCode = 12;
}
