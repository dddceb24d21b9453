// The log's vocabulary: every nondeterministic input the guest can observe is one entry.
// Events are delivered at event boundaries; values are consumed inside an event, in order.
// Entries are numbered from 1 without gaps (`seq`); seq 0 means "nothing".

/** A header sent as [name, value] pairs so order and duplicates survive. */
export type HeaderPairs = Array<[string, string]>;

export type EventEntry =
  /** Boot: the guest context is created, its module evaluated and `start()` run. Always entry #1. */
  | { kind: 'start' }
  /** An incoming HTTP request. Its request id is the seq of this entry. The body is the bytes as received (any bytes, not only UTF-8). */
  | { kind: 'request'; method: string; path: string; headers: HeaderPairs; body: Uint8Array }
  /** A timer the guest armed has fired. */
  | { kind: 'timer'; timerId: number }
  /** A disk read the guest issued has completed. */
  | { kind: 'read'; opId: number; ok: true; data: string }
  | { kind: 'read'; opId: number; ok: false; error: string }
  /** A disk write the guest issued has completed. */
  | { kind: 'write'; opId: number; ok: true }
  | { kind: 'write'; opId: number; ok: false; error: string };

export type ValueEntry =
  /** A clock read (Date.now, new Date, Date(), performance.now, and the context's PRNG seed). */
  | { kind: 'now'; ms: number }
  /** Entropy for crypto.getRandomValues. */
  | { kind: 'random'; bytes: Uint8Array };

export type ControlEntry =
  /** Running digest of every output so far, after `events` events: lets a replayer detect divergent outputs. */
  | { kind: 'check'; events: number; digest: string }
  /** The primary stopped on purpose (planned stop): the secondary must not go live. */
  | { kind: 'stop'; reason: string }
  /**
   * The digest of the whole guest state (heap and host state, see src/checkpoint/state-digest.ts)
   * after the entry before this one: a replayer compares its own there and stops at a divergence.
   * A checkpoint taken at the same point carries the same digest.
   */
  | { kind: 'checkpoint'; stateDigest: string };

export type Entry = EventEntry | ValueEntry | ControlEntry;
export type EntryKind = Entry['kind'];

export const EVENT_KINDS: ReadonlySet<EntryKind> = new Set(['start', 'request', 'timer', 'read', 'write']);
export const VALUE_KINDS: ReadonlySet<EntryKind> = new Set(['now', 'random']);

export function isEvent(entry: Entry): entry is EventEntry {
  return EVENT_KINDS.has(entry.kind);
}

export function isValue(entry: Entry): entry is ValueEntry {
  return VALUE_KINDS.has(entry.kind);
}

/** One line a person can read: used by `lockstep log` and in divergence messages. */
export function describeEntry(entry: Entry): string {
  switch (entry.kind) {
    case 'start':
      return 'event start';
    case 'request':
      return `event request ${entry.method} ${entry.path} (${entry.body.length} body bytes)`;
    case 'timer':
      return `event timer #${entry.timerId}`;
    case 'read':
      return entry.ok ? `event read op ${entry.opId} ok (${entry.data.length} chars)` : `event read op ${entry.opId} failed: ${entry.error}`;
    case 'write':
      return entry.ok ? `event write op ${entry.opId} ok` : `event write op ${entry.opId} failed: ${entry.error}`;
    case 'now':
      return `value now ${entry.ms}`;
    case 'random':
      return `value random ${entry.bytes.length} bytes`;
    case 'check':
      return `check after ${entry.events} events: outputs digest ${entry.digest}`;
    case 'stop':
      return `stop (${entry.reason})`;
    case 'checkpoint':
      return `checkpoint: state digest ${entry.stateDigest}`;
    default: {
      const never: never = entry;
      return `unknown entry ${JSON.stringify(never)}`;
    }
  }
}

/** Facts that must match for two runs to be comparable: carried in the log header and the channel handshake. */
export interface LogHeader {
  /** Bumped whenever the encoding or the meaning of an entry changes. */
  formatVersion: number;
  /** The QuickJS build and Lockstep's sandbox version: a different runtime may behave differently. */
  runtime: string;
  /** sha256 (hex) of the guest program's source. */
  programHash: string;
  /** For people: the program's file name. */
  programName: string;
  /** Limits change where a guest is stopped, so they are part of the identity of a run. */
  limits: GuestLimits;
  /** Wall-clock time the log was started (for people; never fed to the guest). */
  createdAtMs: number;
  /**
   * The first entry the file holds; absent means #1. A bounded recording is cut at a checkpoint:
   * it then starts right after the state its newest checkpoint file holds.
   */
  firstSeq?: number;
}

export interface GuestLimits {
  /** QuickJS heap limit for the guest. */
  memoryBytesMax: number;
  /** QuickJS stack limit for the guest. */
  stackBytesMax: number;
  /** Interrupt-handler polls allowed per event (deterministic CPU budget; ~5k loop iterations a poll). */
  cpuPollsPerEventMax: number;
}

/** 2: inside a batch, clock reads after the first are deltas (see codec.ts). */
/** 3 (2 + 2): the output digest is a chain (d_n = sha256(d_n-1 || output)) and the `checkpoint` entry exists. */
/** 4: a request's body is bytes (msgpack bin), not text, so any body round-trips byte for byte. Format 3 logs are refused. */
export const LOG_FORMAT_VERSION = 4;
