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

/** A claim did not complete in time (a stalled shared filesystem, an arbiter that does not answer): this node stops. */
export class ClaimTimeoutError extends LockstepError {
  readonly code = 'LOCKSTEP_CLAIM_TIMEOUT';
  override readonly exitCode = 11;
  constructor(epoch: number, timeoutMs: number) {
    super(
      `The claim for epoch ${epoch} did not complete within ${timeoutMs} ms: the shared directory (or arbiter) is stalled. ` +
        'Without a decided claim this node may neither serve nor go live, so it stops; start it again once the storage answers.',
    );
  }
}

/** Flow control is holding requests back and the bytes already waiting reached their bound: refused at once (503). */
export class AdmissionFullError extends LockstepError {
  readonly code = 'LOCKSTEP_OVERLOADED';
  constructor(waitingBytes: number, boundBytes: number) {
    super(
      `${waitingBytes} bytes of requests are already waiting for the secondary to acknowledge the log (bound ${boundBytes}, ` +
        '--admission-waiting-bytes-max): retry shortly.',
    );
  }
}

/**
 * A node started on a directory whose current epoch is owned by a node it cannot reach: booting a
 * fresh guest beside it could fork the state, so it refuses.
 */
export class EpochOwnedError extends LockstepError {
  readonly code = 'LOCKSTEP_EPOCH_OWNED';
  override readonly exitCode = 12;
  constructor(epoch: number, owner: string, dir: string) {
    super(
      `Epoch ${epoch} of ${dir} is owned by ${owner}, which does not answer on its logging channel. ` +
        'Starting a fresh guest beside a live owner would fork the state, so this node does not serve. ' +
        'Start it again once the owner is up (it then joins as the secondary), or, if the owner is gone for good, ' +
        'start it with --takeover (the guest boots afresh from its files; state kept only in memory is lost).',
    );
  }
}

/** A secondary holding part of one owner's log was welcomed by another epoch's owner: it must start afresh. */
export class LineageChangedError extends LockstepError {
  readonly code = 'LOCKSTEP_LINEAGE_CHANGED';
  override readonly exitCode = 13;
  constructor(heldEpoch: number, newEpoch: number, heldSeq: number) {
    super(
      `This secondary holds entries #1..#${heldSeq} of epoch ${heldEpoch}'s log, but the primary now answering is in epoch ${newEpoch}: ` +
        'its log may not continue ours. Start the secondary again (a new process holds nothing and catches up from the start).',
    );
  }
}

/**
 * The secondary's own copy of the guest's files (two hosts, nothing shared on disk) could not be
 * received or written: it could not take over with them, so it does not.
 */
export class ReplicaError extends LockstepError {
  readonly code = 'LOCKSTEP_REPLICA';
  override readonly exitCode = 14;
}
