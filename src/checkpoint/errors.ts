// Errors a checkpoint can be refused with: one class, a stable code per failure, and a message
// saying what was wrong and what to do. A refused checkpoint is never half-restored.
import { LockstepError } from '../errors.js';

export type CheckpointErrorCode =
  /** Not a checkpoint at all (no magic). */
  | 'LOCKSTEP_CHECKPOINT_NOT_A_CHECKPOINT'
  /** A checksum did not match, or a field is malformed: the bytes were damaged or tampered with. */
  | 'LOCKSTEP_CHECKPOINT_CORRUPT'
  /** Written by another checkpoint format version. */
  | 'LOCKSTEP_CHECKPOINT_VERSION'
  /** Taken from another program, runtime or limits than the ones it is restored into. */
  | 'LOCKSTEP_CHECKPOINT_MISMATCH'
  /** Larger than checkpointBytesMax (when taking or reading one). */
  | 'LOCKSTEP_CHECKPOINT_TOO_LARGE';

export class CheckpointError extends LockstepError {
  override readonly exitCode = 4;
  constructor(
    readonly code: CheckpointErrorCode,
    message: string,
  ) {
    super(message);
  }
}
