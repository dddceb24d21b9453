// Operating errors people can act on: one class per failure, each with a stable `code`.
// Broken invariants are not here: they are `assert`s that crash (see src/assert.ts).

export abstract class LockstepError extends Error {
  abstract readonly code: string;
  /** Process exit code the CLI uses when this error ends a command. */
  readonly exitCode: number = 1;
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** The guest asked for something the log does not hold next (or produced other outputs). */
export class DivergenceError extends LockstepError {
  readonly code = 'LOCKSTEP_DIVERGENCE';
  override readonly exitCode = 3;
  constructor(
    readonly seq: number,
    readonly logHolds: string,
    readonly guestAsked: string,
  ) {
    super(
      `Replay diverged at entry #${seq}: the log holds ${logHolds} but the guest asked for ${guestAsked}. ` +
        'The program, its inputs or the runtime differ from the recorded run; replay stopped here.',
    );
  }
}

/** A log file or frame that cannot be read: corrupt, truncated, wrong version or wrong program. */
export class LogFormatError extends LockstepError {
  readonly code: string;
  override readonly exitCode = 4;
  constructor(code: 'LOCKSTEP_LOG_CORRUPT' | 'LOCKSTEP_LOG_TRUNCATED' | 'LOCKSTEP_LOG_VERSION' | 'LOCKSTEP_LOG_PROGRAM' | 'LOCKSTEP_LOG_RUNTIME' | 'LOCKSTEP_LOG_GAP' | 'LOCKSTEP_LOG_NOT_A_LOG' | 'LOCKSTEP_FRAME_TOO_LARGE', message: string) {
    super(message);
    this.code = code;
  }
}

/** The guest program could not be loaded (syntax error, no default export, unreadable file). */
export class GuestLoadError extends LockstepError {
  readonly code = 'LOCKSTEP_GUEST_LOAD';
  override readonly exitCode = 5;
}

/** Bad command-line usage or option values. */
export class UsageError extends LockstepError {
  readonly code = 'LOCKSTEP_USAGE';
  override readonly exitCode = 2;
}

/** A port this node must listen on is taken (or not allowed). */
export class AddressInUseError extends LockstepError {
  readonly code = 'LOCKSTEP_ADDRESS_IN_USE';
  constructor(what: string, host: string, port: number, cause: string) {
    super(`Cannot listen for the ${what} on ${host}:${port} (${cause}): another process (perhaps another Lockstep node) holds it. Choose another port.`);
  }
}

/** Turns a listen error into one people can act on. */
export function listenError(error: unknown, what: string, host: string, port: number): unknown {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') return new AddressInUseError(what, host, port, code);
  return error;
}
