// Operating errors of the logging channel: one class per failure, each with a stable `code`.
// Messages say what happened, with which peer, and what to do; none ever contains the secret.

import { LockstepError } from '../errors.js';

/** Codes a side puts in a 'refuse' message before closing; the peer reports them as they are. */
export type RefuseCode =
  | 'LOCKSTEP_CHANNEL_AUTH'
  | 'LOCKSTEP_CHANNEL_AUTH_TIMEOUT'
  | 'LOCKSTEP_CHANNEL_BUSY'
  | 'LOCKSTEP_CHANNEL_PROTOCOL'
  | 'LOCKSTEP_CHANNEL_FRAME_TOO_LARGE'
  | 'LOCKSTEP_CHANNEL_INCOMPATIBLE'
  | 'LOCKSTEP_CHANNEL_SEQ'
  | 'LOCKSTEP_CHANNEL_FORGED'
  | 'LOCKSTEP_CHANNEL_STALE_TOKEN';

export abstract class ChannelError extends LockstepError {
  constructor(
    message: string,
    /** host:port of the other side, or '' when not known. */
    readonly peer: string,
  ) {
    super(message);
  }
}

const from = (peer: string): string => (peer ? ` (peer ${peer})` : '');

/** The peer does not know the shared secret, or proved it wrongly. */
export class ChannelAuthError extends ChannelError {
  readonly code = 'LOCKSTEP_CHANNEL_AUTH';
  constructor(what: string, peer: string) {
    super(`Channel authentication failed${from(peer)}: ${what}. Give both nodes the same secret: the same --secret-file (two hosts), or the channel.secret of the shared --dir.`, peer);
  }
}

/** The peer connected but did not complete the handshake in time. */
export class ChannelAuthTimeoutError extends ChannelError {
  readonly code = 'LOCKSTEP_CHANNEL_AUTH_TIMEOUT';
  constructor(timeoutMs: number, peer: string) {
    super(`Channel handshake not completed within ${timeoutMs} ms${from(peer)}. Check that the peer is a Lockstep node of the same version and the network is not dropping frames.`, peer);
  }
}

/** Why a busy primary turned a peer away; both clear by themselves, so the peer retries. */
export type BusyReason = 'secondary-attached' | 'handshakes-full';

/** A secondary tried to attach while another one is attached, or the handshake table was full. */
export class ChannelBusyError extends ChannelError {
  readonly code = 'LOCKSTEP_CHANNEL_BUSY';
  constructor(
    peer: string,
    readonly reason: BusyReason = 'secondary-attached',
  ) {
    super(busyMessage(reason, peer), peer);
  }
}

function busyMessage(reason: BusyReason, peer: string): string {
  switch (reason) {
    case 'secondary-attached':
      return `The primary already has a secondary attached; refused another${from(peer)}. Stop the other secondary, or wait until the primary detects it gone.`;
    case 'handshakes-full':
      return `The primary's handshake table was full and this was its oldest unauthenticated connection${from(peer)}; it was closed to make room. A Lockstep secondary retries by itself; many idle connections to the logging port mean something else is connecting to it.`;
    default: {
      const never: never = reason;
      return String(never);
    }
  }
}

/** A frame that is not a well-formed channel message, or a message out of turn. */
export class ChannelProtocolError extends ChannelError {
  readonly code = 'LOCKSTEP_CHANNEL_PROTOCOL';
  constructor(what: string, peer: string) {
    super(`Channel protocol violation${from(peer)}: ${what}. The peer is not a Lockstep node of this version, or the connection is corrupted.`, peer);
  }
}

/** A frame above frameBytesMax. */
export class ChannelFrameTooLargeError extends ChannelError {
  readonly code = 'LOCKSTEP_CHANNEL_FRAME_TOO_LARGE';
  constructor(bytes: number | undefined, frameBytesMax: number, peer: string) {
    const size = bytes === undefined ? 'a frame' : `a frame of ${bytes} bytes`;
    super(`Channel refused ${size} above frameBytesMax ${frameBytesMax}${from(peer)}. Send smaller batches, or raise frameBytesMax on both nodes.`, peer);
  }
}

/** The two nodes cannot replicate each other: protocol version or log header differ. */
export class ChannelIncompatibleError extends ChannelError {
  readonly code = 'LOCKSTEP_CHANNEL_INCOMPATIBLE';
  constructor(what: string, peer: string) {
    super(`Channel peer is incompatible${from(peer)}: ${what}. Run the same program, runtime and limits on both nodes.`, peer);
  }
}

/** Received batches are not contiguous: a gap or a repeat. Never skipped silently. */
export class ChannelSeqError extends ChannelError {
  readonly code = 'LOCKSTEP_CHANNEL_SEQ';
  constructor(
    readonly expectedSeq: number,
    readonly gotSeq: number,
    peer: string,
  ) {
    const kind = gotSeq > expectedSeq ? 'gap' : 'repeat';
    super(`Channel log ${kind}${from(peer)}: expected entry #${expectedSeq} next but got #${gotSeq}. The connection was closed; this is a bug in the sender's resend logic.`, peer);
  }
}

/**
 * A frame after the handshake whose tag does not verify under this connection's session key, or
 * whose counter is not the next one: injected, altered, replayed, reordered or dropped on the way.
 */
export class ChannelForgedError extends ChannelError {
  readonly code = 'LOCKSTEP_CHANNEL_FORGED';
  constructor(what: string, peer: string) {
    super(`Channel frame refused${from(peer)}: ${what}. Something on the network path injected, altered, replayed or dropped a frame; the connection was dropped and nothing in the frame was used. Check what sits between the two nodes.`, peer);
  }
}

/** The peer refused us with a 'refuse' message (or a close code that means one). */
export class ChannelRefusedError extends ChannelError {
  readonly code = 'LOCKSTEP_CHANNEL_REFUSED';
  constructor(
    readonly refuseCode: string,
    readonly refuseMessage: string,
    peer: string,
  ) {
    super(`Channel peer refused us${from(peer)} with ${refuseCode}: ${refuseMessage}`, peer);
  }
}

/** The shared secret file is missing, unreadable, malformed or readable by others. */
export class ChannelSecretError extends ChannelError {
  readonly code = 'LOCKSTEP_CHANNEL_SECRET';
  constructor(what: string, path: string) {
    super(`Channel secret ${path}: ${what}`, '');
  }
}

/** The primary cannot take a secondary right now (it is arbitrating, or not live yet). Retryable. */
export class ChannelNotReadyError extends ChannelError {
  readonly code = 'LOCKSTEP_CHANNEL_NOT_READY';
  constructor(why: string, peer: string) {
    super(`The primary cannot take a secondary right now${from(peer)}: ${why}. The secondary retries by itself.`, peer);
  }
}

/** The would-be secondary's log does not fit this primary's (it holds entries this primary never logged, or ones it no longer keeps). */
export class ChannelHistoryError extends ChannelError {
  readonly code = 'LOCKSTEP_CHANNEL_HISTORY';
  constructor(why: string, peer: string) {
    super(`Refused a secondary${from(peer)}: ${why}. Start the secondary afresh (a new process holds nothing).`, peer);
  }
}

/**
 * A would-be secondary has followed a later epoch (its fencing token is higher than this primary's):
 * this primary was deposed. It refuses the secondary, which looks for the current owner again.
 */
export class ChannelStaleTokenError extends ChannelError {
  readonly code = 'LOCKSTEP_CHANNEL_STALE_TOKEN';
  constructor(ours: number, theirs: number, peer: string) {
    super(`This primary's fencing token ${ours} is older than ${theirs}, which the secondary${from(peer)} has followed: a later epoch has an owner, and this node was deposed.`, peer);
  }
}
