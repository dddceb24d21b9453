// The log's binary encoding, shared by log files and the logging channel: each entry is a msgpack
// tuple [kindCode, ...fields] (no field names, so the log stays small), a batch is
// [firstSeq, [tuple, ...]], and the header is a plain msgpack map tagged with a magic string.
// Inside a batch a clock read after the first is a bare integer: its delta from the previous clock
// value of the same batch (1 byte for deltas up to 127 ms). A batch always opens with an absolute
// value, so every batch (a file frame, a channel message) decodes on its own.
//
// Measured with msgpackr 2.1.3, bytes per encoded entry (a batch adds 3-9 bytes in all, a file frame 8):
//   request GET /items/42, 2 headers, no body: 49; POST with 3 headers and a 40-byte JSON body: 144 (a body is msgpack bin: any bytes)
//   now: 11 for Date.now() or a fractional ms (float64), 3-7 for a small integer; as a delta inside a batch 1 (|delta| < 128 ms)
//   random: 20 for 16 bytes, 8 for 4 bytes; timer: 3; write ok: 4; start: 2; check (sha256 hex): 69

import { Packr } from 'msgpackr';
import { assert, assertNever } from '../assert.js';
import { LogFormatError } from '../errors.js';
import { LOG_FORMAT_VERSION, type Entry, type EntryKind, type GuestLimits, type HeaderPairs, type LogHeader } from './entries.js';

/** Every node and every reconnect must decode alike, so no shared record structures. */
const packr = new Packr({ useRecords: false });

export const LOG_MAGIC = 'lockstep-log';

/** Wire codes: append only, never renumber (a change here is a LOG_FORMAT_VERSION bump). */
const KIND_CODES = { start: 0, request: 1, timer: 2, read: 3, write: 4, now: 5, random: 6, check: 7, stop: 8, checkpoint: 9 } as const satisfies Record<EntryKind, number>;
const KIND_BY_CODE = new Map<unknown, EntryKind>(Object.entries(KIND_CODES).map(([kind, code]) => [code, kind as EntryKind]));

export function encodeEntry(entry: Entry): unknown[] {
  const problem = entryProblem(entry);
  assert(problem === undefined, `encoding a malformed ${entry.kind} entry: ${problem}`);
  const code = KIND_CODES[entry.kind];
  switch (entry.kind) {
    case 'start':
      return [code];
    case 'request':
      return [code, entry.method, entry.path, entry.headers.flat(), entry.body];
    case 'timer':
      return [code, entry.timerId];
    case 'read':
      return [code, entry.opId, entry.ok, entry.ok ? entry.data : entry.error];
    case 'write':
      return entry.ok ? [code, entry.opId, true] : [code, entry.opId, false, entry.error];
    case 'now':
      return [code, entry.ms];
    case 'random':
      return [code, entry.bytes];
    case 'check':
      return [code, entry.events, entry.digest];
    case 'stop':
      return [code, entry.reason];
    case 'checkpoint':
      return [code, entry.stateDigest];
    default:
      return assertNever(entry, 'entry kind');
  }
}

/** Rebuilds entry #seq from its tuple; a shape that no Lockstep writes is reported as corruption. */
export function decodeEntry(tuple: unknown, seq: number): Entry {
  const bad = (why: string): LogFormatError =>
    new LogFormatError(
      'LOCKSTEP_LOG_CORRUPT',
      `Log entry #${seq} is malformed: ${why}. The log is damaged or was written by an incompatible Lockstep; ` +
        `entries before #${seq} are usable, this one and later ones are not.`,
    );
  if (!Array.isArray(tuple)) throw bad(`expected a tuple, found ${typeName(tuple)}`);
  const kind = KIND_BY_CODE.get(tuple[0]);
  if (kind === undefined) throw bad(`unknown entry kind code ${JSON.stringify(tuple[0])}`);
  const f = tuple.slice(1);
  const arity = (n: number): void => {
    if (f.length !== n) throw bad(`a ${kind} entry has ${n} field(s), found ${f.length}`);
  };
  let entry: Entry;
  switch (kind) {
    case 'start':
      arity(0);
      entry = { kind };
      break;
    case 'request': {
      arity(4);
      const flat = f[2];
      if (!Array.isArray(flat) || flat.length % 2 !== 0) throw bad('request headers are not a flat list of name/value pairs');
      const headers: HeaderPairs = [];
      for (let i = 0; i < flat.length; i += 2) headers.push([flat[i], flat[i + 1]]);
      // Copy: the decoder hands out a view into the whole frame, which would keep it alive.
      entry = { kind, method: f[0], path: f[1], headers, body: f[3] instanceof Uint8Array ? new Uint8Array(f[3]) : f[3] } as Entry;
      break;
    }
    case 'timer':
      arity(1);
      entry = { kind, timerId: f[0] } as Entry;
      break;
    case 'read':
      arity(3);
      entry = (f[1] === true ? { kind, opId: f[0], ok: true, data: f[2] } : { kind, opId: f[0], ok: f[1], error: f[2] }) as Entry;
      break;
    case 'write':
      arity(f[1] === true ? 2 : 3);
      entry = (f[1] === true ? { kind, opId: f[0], ok: true } : { kind, opId: f[0], ok: f[1], error: f[2] }) as Entry;
      break;
    case 'now':
      arity(1);
      entry = { kind, ms: f[0] } as Entry;
      break;
    case 'random':
      arity(1);
      // Copy: the decoder hands out a view into the whole frame, which would keep it alive.
      entry = { kind, bytes: f[0] instanceof Uint8Array ? new Uint8Array(f[0]) : f[0] } as Entry;
      break;
    case 'check':
      arity(2);
      entry = { kind, events: f[0], digest: f[1] } as Entry;
      break;
    case 'stop':
      arity(1);
      entry = { kind, reason: f[0] } as Entry;
      break;
    case 'checkpoint':
      arity(1);
      entry = { kind, stateDigest: f[0] } as Entry;
      break;
  }
  // The same check that guarded the encoder, now on the far side of the wire.
  const problem = entryProblem(entry);
  if (problem !== undefined) throw bad(problem);
  return entry;
}

export function encodeBatch(firstSeq: number, entries: Entry[]): Uint8Array {
  assert(Number.isSafeInteger(firstSeq) && firstSeq >= 1, `batch firstSeq must be an integer >= 1, got ${firstSeq}`);
  let clock: number | undefined; // the previous clock value of this batch
  const tuples = entries.map((entry) => {
    if (entry.kind !== 'now') return encodeEntry(entry);
    const base = clock;
    clock = entry.ms;
    if (base === undefined) return encodeEntry(entry);
    const delta = entry.ms - base;
    // Only where base + delta gives back exactly the same double (fractional values may not).
    return Number.isSafeInteger(delta) && base + delta === entry.ms ? delta : encodeEntry(entry);
  });
  return packr.pack([firstSeq, tuples]);
}

export function decodeBatch(bytes: Uint8Array): { firstSeq: number; entries: Entry[] } {
  const batch = unpack(bytes, 'log batch');
  if (!Array.isArray(batch) || batch.length !== 2 || !Array.isArray(batch[1])) {
    throw new LogFormatError('LOCKSTEP_LOG_CORRUPT', `A log batch is malformed: expected [firstSeq, [entries]], found ${typeName(batch)}. The log or channel data is damaged.`);
  }
  const [firstSeq, tuples] = batch as [unknown, unknown[]];
  if (typeof firstSeq !== 'number' || !Number.isSafeInteger(firstSeq) || firstSeq < 1) {
    throw new LogFormatError('LOCKSTEP_LOG_CORRUPT', `A log batch is malformed: its first entry number is ${JSON.stringify(firstSeq)}, not an integer >= 1. The log or channel data is damaged.`);
  }
  let clock: number | undefined;
  const entries = tuples.map((tuple, i) => {
    const seq = firstSeq + i;
    if (typeof tuple !== 'number') {
      const entry = decodeEntry(tuple, seq);
      if (entry.kind === 'now') clock = entry.ms;
      return entry;
    }
    if (clock === undefined || !Number.isSafeInteger(tuple)) {
      throw new LogFormatError(
        'LOCKSTEP_LOG_CORRUPT',
        `Log entry #${seq} is malformed: a clock delta (${tuple}) ${clock === undefined ? 'with no absolute clock value before it in its batch' : 'that is not an integer'}. ` +
          `The log is damaged or was written by an incompatible Lockstep; entries before #${seq} are usable, this one and later ones are not.`,
      );
    }
    clock += tuple;
    return { kind: 'now', ms: clock } satisfies Entry;
  });
  return { firstSeq, entries };
}

export function encodeHeader(header: LogHeader): Uint8Array {
  const problem = headerProblem(header);
  assert(problem === undefined, `encoding a malformed log header: ${problem}`);
  const { formatVersion, runtime, programHash, programName, createdAtMs } = header;
  const { memoryBytesMax, stackBytesMax, cpuPollsPerEventMax } = header.limits;
  // Rebuilt field by field so that stray properties of the caller's object never reach the wire.
  const limits: GuestLimits = { memoryBytesMax, stackBytesMax, cpuPollsPerEventMax };
  const cut = header.firstSeq !== undefined && header.firstSeq > 1 ? { firstSeq: header.firstSeq } : {};
  return packr.pack({ magic: LOG_MAGIC, formatVersion, runtime, programHash, programName, limits, createdAtMs, ...cut });
}

/** Checks the magic and the format version first: other fields may mean something else in another version. */
export function decodeHeader(bytes: Uint8Array): LogHeader {
  const map = unpack(bytes, 'log header') as Record<string, unknown> | null;
  if (typeof map !== 'object' || map === null || map.magic !== LOG_MAGIC) {
    throw new LogFormatError('LOCKSTEP_LOG_NOT_A_LOG', `This is not a Lockstep log header (no '${LOG_MAGIC}' magic). Check that the file or peer is a Lockstep log.`);
  }
  if (map.formatVersion !== LOG_FORMAT_VERSION) throw versionError(map.formatVersion);
  const problem = headerProblem(map as unknown as LogHeader);
  if (problem !== undefined) throw new LogFormatError('LOCKSTEP_LOG_CORRUPT', `The log header is malformed: ${problem}. The log is damaged.`);
  const { formatVersion, runtime, programHash, programName, limits, createdAtMs, firstSeq } = map as unknown as LogHeader;
  const { memoryBytesMax, stackBytesMax, cpuPollsPerEventMax } = limits;
  const header: LogHeader = { formatVersion, runtime, programHash, programName, limits: { memoryBytesMax, stackBytesMax, cpuPollsPerEventMax }, createdAtMs };
  if (firstSeq !== undefined) header.firstSeq = firstSeq;
  return header;
}

/**
 * Refuses a log (or a peer) whose run is not comparable with ours: another format, another runtime
 * or other limits (they change where a guest is stopped), or another program.
 */
export function checkHeaderCompatible(expected: Omit<LogHeader, 'createdAtMs' | 'programName'>, actual: LogHeader): void {
  if (actual.formatVersion !== expected.formatVersion) throw versionError(actual.formatVersion, expected.formatVersion);
  if (actual.programHash !== expected.programHash) {
    throw new LogFormatError(
      'LOCKSTEP_LOG_PROGRAM',
      `The log was recorded with another program: ${actual.programName} (sha256 ${actual.programHash}), ` +
        `but this program has sha256 ${expected.programHash}. Run the exact program source the log was recorded with.`,
    );
  }
  if (actual.runtime !== expected.runtime) {
    throw new LogFormatError(
      'LOCKSTEP_LOG_RUNTIME',
      `The log was recorded on runtime '${actual.runtime}' but this Lockstep runs '${expected.runtime}'. ` +
        'A different runtime may behave differently; use the Lockstep version (and QuickJS build) that recorded the log.',
    );
  }
  for (const name of Object.keys(expected.limits) as Array<keyof GuestLimits>) {
    if (actual.limits[name] !== expected.limits[name]) {
      throw new LogFormatError(
        'LOCKSTEP_LOG_RUNTIME',
        `The log was recorded with limit ${name}=${actual.limits[name]} but this run uses ${name}=${expected.limits[name]}. ` +
          `Limits change where a guest is stopped; run with ${name}=${actual.limits[name]} to match the log.`,
      );
    }
  }
}

export function versionError(found: unknown, reads: number = LOG_FORMAT_VERSION): LogFormatError {
  return new LogFormatError(
    'LOCKSTEP_LOG_VERSION',
    `This log was written by format ${JSON.stringify(found)}; this Lockstep reads format ${reads}. ` +
      `Use the Lockstep release that wrote it (or one that reads format ${JSON.stringify(found)}), or record the log again.`,
  );
}

/** Why `entry` is not a well-formed entry, or undefined. Used on both sides of the wire. */
function entryProblem(entry: Entry): string | undefined {
  const e = entry as unknown as Record<string, unknown>;
  const str = (name: string): string | undefined => (typeof e[name] === 'string' ? undefined : `${name} is ${typeName(e[name])}, not a string`);
  const count = (name: string): string | undefined =>
    Number.isSafeInteger(e[name]) && (e[name] as number) >= 0 ? undefined : `${name} is ${JSON.stringify(e[name])}, not an integer >= 0`;
  switch (entry.kind) {
    case 'start':
      return undefined;
    case 'request':
      if (!Array.isArray(entry.headers) || !entry.headers.every((h) => Array.isArray(h) && h.length === 2 && typeof h[0] === 'string' && typeof h[1] === 'string')) {
        return 'headers are not a list of [name, value] string pairs';
      }
      return str('method') ?? str('path') ?? (entry.body instanceof Uint8Array ? undefined : `body is ${typeName(e.body)}, not binary`);
    case 'timer':
      return count('timerId');
    case 'read':
    case 'write':
      if (typeof e.ok !== 'boolean') return `ok is ${typeName(e.ok)}, not a boolean`;
      return count('opId') ?? (entry.ok ? (entry.kind === 'read' ? str('data') : undefined) : str('error'));
    case 'now':
      return typeof entry.ms === 'number' && Number.isFinite(entry.ms) ? undefined : `ms is ${JSON.stringify(entry.ms)}, not a finite number`;
    case 'random':
      return entry.bytes instanceof Uint8Array ? undefined : `bytes is ${typeName(entry.bytes)}, not binary`;
    case 'check':
      return count('events') ?? str('digest');
    case 'stop':
      return str('reason');
    case 'checkpoint':
      return str('stateDigest');
    default:
      return `unknown kind ${JSON.stringify((entry as { kind: unknown }).kind)}`;
  }
}

function headerProblem(header: LogHeader): string | undefined {
  const h = header as unknown as Record<string, unknown>;
  for (const name of ['runtime', 'programHash', 'programName'] as const) {
    if (typeof h[name] !== 'string') return `${name} is ${typeName(h[name])}, not a string`;
  }
  for (const name of ['formatVersion', 'createdAtMs'] as const) {
    if (!Number.isFinite(h[name])) return `${name} is ${typeName(h[name])}, not a number`;
  }
  const limits = h.limits as Record<string, unknown> | undefined;
  if (typeof limits !== 'object' || limits === null) return 'limits are missing';
  for (const name of ['memoryBytesMax', 'stackBytesMax', 'cpuPollsPerEventMax'] satisfies Array<keyof GuestLimits>) {
    if (!Number.isSafeInteger(limits[name])) return `limit ${name} is ${JSON.stringify(limits[name])}, not an integer`;
  }
  if (h.firstSeq !== undefined && !(Number.isSafeInteger(h.firstSeq) && (h.firstSeq as number) >= 1)) return `firstSeq is ${typeName(h.firstSeq)}, not an entry number`;
  return undefined;
}

function unpack(bytes: Uint8Array, what: string): unknown {
  try {
    return packr.unpack(bytes);
  } catch (err) {
    throw new LogFormatError('LOCKSTEP_LOG_CORRUPT', `A ${what} is not valid msgpack (${(err as Error).message.slice(0, 120)}). The log or channel data is damaged.`);
  }
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (value instanceof Uint8Array) return `${value.length} bytes`;
  return typeof value === 'object' ? 'an object' : `${typeof value} ${JSON.stringify(value)?.slice(0, 40)}`;
}
