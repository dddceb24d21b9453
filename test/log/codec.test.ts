// The entry codec: every kind round-trips, bad shapes are refused naming the entry number, and
// header compatibility says what differs. (crc32 is checked here too: it has no other consumer in tests.)

import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { AssertionFailed } from '../../src/assert.js';
import { LogFormatError } from '../../src/errors.js';
import { checkHeaderCompatible, decodeBatch, decodeEntry, decodeHeader, encodeBatch, encodeEntry, encodeHeader } from '../../src/log/codec.js';
import { crc32 } from '../../src/log/crc32.js';
import { LOG_FORMAT_VERSION, type Entry, type LogHeader } from '../../src/log/entries.js';

const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

const packr = new Packr({ useRecords: false });

const SAMPLE_ENTRIES: Entry[] = [
  { kind: 'start' },
  { kind: 'request', method: 'POST', path: '/items?x=1', headers: [['content-type', 'application/json'], ['x-dup', 'a'], ['x-dup', 'b']], body: utf8('{"n":"é✓"}') },
  { kind: 'request', method: 'GET', path: '/', headers: [], body: new Uint8Array(0) },
  { kind: 'timer', timerId: 7 },
  { kind: 'read', opId: 1, ok: true, data: 'file contents\n' },
  { kind: 'read', opId: 2, ok: false, error: 'ENOENT: no such file' },
  { kind: 'write', opId: 3, ok: true },
  { kind: 'write', opId: 4, ok: false, error: 'EACCES' },
  { kind: 'now', ms: 1_717_000_000_123 },
  { kind: 'now', ms: 1234.5678 },
  { kind: 'random', bytes: new Uint8Array([0, 1, 254, 255, 128]) },
  { kind: 'random', bytes: new Uint8Array(0) },
  { kind: 'check', events: 12, digest: 'ab'.repeat(32) },
  { kind: 'stop', reason: 'planned shutdown' },
  { kind: 'checkpoint', stateDigest: 'cd'.repeat(32) },
];

const HEADER: LogHeader = {
  formatVersion: LOG_FORMAT_VERSION,
  runtime: 'quickjs-wasmfile-release-sync@0.32.0/sandbox-1',
  programHash: 'f'.repeat(64),
  programName: 'counter.js',
  limits: { memoryBytesMax: 64 << 20, stackBytesMax: 1 << 20, cpuPollsPerEventMax: 200 },
  createdAtMs: 1_717_000_000_000,
};

function codeOf(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(LogFormatError);
    return err as LogFormatError;
  }
  throw new Error('expected a LogFormatError, nothing was thrown');
}

describe('crc32', () => {
  it('matches the IEEE check value and the empty input', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
  });
});

describe('entries', () => {
  it('round-trips every entry kind through msgpack bytes', () => {
    SAMPLE_ENTRIES.forEach((entry, i) => {
      const wire = packr.pack(encodeEntry(entry));
      const back = decodeEntry(packr.unpack(wire), i + 1);
      expect(back).toEqual(entry);
      if (back.kind === 'random') expect(back.bytes.constructor).toBe(Uint8Array);
    });
  });

  it('encodes a request as a small positional tuple', () => {
    expect(encodeEntry(SAMPLE_ENTRIES[1]!)).toEqual([1, 'POST', '/items?x=1', ['content-type', 'application/json', 'x-dup', 'a', 'x-dup', 'b'], utf8('{"n":"é✓"}')]);
    expect(packr.pack(encodeEntry({ kind: 'timer', timerId: 3 })).length).toBe(3);
  });

  it('carries a request body as bytes, byte for byte, whatever they are (not only UTF-8)', () => {
    const body = new Uint8Array(4096);
    let x = 12345;
    for (let i = 0; i < body.length; i++) body[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
    body.set([0xff, 0xfe, 0xc3, 0x28, 0xed, 0xa0, 0x80, 0x00], 0); // invalid UTF-8, a lone surrogate's bytes, NUL
    const entry: Entry = { kind: 'request', method: 'PUT', path: '/blob', headers: [['content-type', 'application/octet-stream']], body };
    const { entries } = decodeBatch(encodeBatch(3, [entry]));
    const back = entries[0]!;
    expect(back.kind === 'request' && back.body.constructor).toBe(Uint8Array);
    expect(back.kind === 'request' && Buffer.from(back.body).equals(Buffer.from(body))).toBe(true);
    // Logged as msgpack bin: the body costs its own length plus a few bytes, as text did.
    const bodyCost = packr.pack(encodeEntry(entry)).length - packr.pack(encodeEntry({ ...entry, body: new Uint8Array(0) })).length;
    expect(bodyCost).toBeGreaterThanOrEqual(body.length);
    expect(bodyCost).toBeLessThanOrEqual(body.length + 4);
  });

  it('refuses a malformed entry before encoding it (a broken invariant, not an operating error)', () => {
    expect(() => encodeEntry({ kind: 'now', ms: Number.NaN })).toThrow(AssertionFailed);
    expect(() => encodeEntry({ kind: 'timer', timerId: -1 })).toThrow(/timerId/);
  });

  it.each([
    ['not a tuple', { kind: 'now' }, /expected a tuple/],
    ['an unknown kind code', [99, 1], /unknown entry kind code 99/],
    ['a wrong field count', [5, 1, 2], /has 1 field\(s\), found 2/],
    ['a wrong field type', [5, 'soon'], /ms is "soon"/],
    ['odd flat headers', [1, 'GET', '/', ['a'], ''], /headers/],
    ['a non-string header value', [1, 'GET', '/', ['a', 1], ''], /headers/],
    ['a non-boolean ok', [3, 1, 'yes', 'x'], /ok is/],
    ['random bytes as a string', [6, 'abc'], /bytes is/],
    ['a request body as text (format 3)', [1, 'POST', '/', [], 'text'], /body is string "text", not binary/],
  ])('reports %s as corruption of that entry number', (_what, tuple, reason) => {
    const err = codeOf(() => decodeEntry(tuple, 41));
    expect(err.code).toBe('LOCKSTEP_LOG_CORRUPT');
    expect(err.message).toContain('#41');
    expect(err.message).toMatch(reason);
  });
});

describe('batches', () => {
  it('round-trips a batch with its first sequence number', () => {
    const bytes = encodeBatch(100, SAMPLE_ENTRIES);
    expect(decodeBatch(bytes)).toEqual({ firstSeq: 100, entries: SAMPLE_ENTRIES });
    expect(decodeBatch(encodeBatch(1, []))).toEqual({ firstSeq: 1, entries: [] });
  });

  it('names the entry number of a bad tuple inside a batch', () => {
    const bytes = packr.pack([10, [[0], [2, 1], [2, 'x']]]);
    const err = codeOf(() => decodeBatch(bytes));
    expect(err.code).toBe('LOCKSTEP_LOG_CORRUPT');
    expect(err.message).toContain('#12');
  });

  it('logs clock reads after the first of a batch as deltas, and rebuilds the exact values', () => {
    const values = [1_717_000_000_123, 1_717_000_000_123, 1_717_000_000_124, 1_717_000_000_100, 1_717_000_999_999, 1234.5678, 1235.5678, 1235.1, 0, 5, 2 ** 53 - 1, -(2 ** 53) + 1, 0.1, 0.30000000000000004];
    const entries: Entry[] = values.flatMap((ms, i): Entry[] => (i % 4 === 3 ? [{ kind: 'timer', timerId: i }, { kind: 'now', ms }] : [{ kind: 'now', ms }]));
    const back = decodeBatch(encodeBatch(5, entries));
    expect(back).toEqual({ firstSeq: 5, entries });
    // Exact to the bit: fractions come back as the same double.
    const ms = back.entries.flatMap((e) => (e.kind === 'now' ? [e.ms] : []));
    ms.forEach((v, i) => expect(Object.is(v, values[i]), `clock value ${values[i]} came back as ${v}`).toBe(true));
  });

  it('costs at most 3 bytes per clock read on average for 50 reads of a millisecond clock in one batch', () => {
    const reads: Entry[] = Array.from({ length: 50 }, (_, i) => ({ kind: 'now', ms: 1_717_000_000_000 + Math.floor(i / 7) }));
    const request: Entry = { kind: 'request', method: 'GET', path: '/', headers: [], body: new Uint8Array(0) };
    const perRead = (encodeBatch(1, [request, ...reads]).length - encodeBatch(1, [request]).length) / reads.length;
    expect(perRead).toBeLessThanOrEqual(3);
    // The first read of a batch is absolute (a batch decodes on its own): 11 bytes for a Date.now() value.
    expect(encodeBatch(1, [request, reads[0]!]).length - encodeBatch(1, [request]).length).toBe(packr.pack(encodeEntry(reads[0]!)).length);
  });

  it('refuses a clock delta with no absolute clock value before it in its batch, naming the entry', () => {
    const err = codeOf(() => decodeBatch(packr.pack([7, [[0], 3]])));
    expect(err.code).toBe('LOCKSTEP_LOG_CORRUPT');
    expect(err.message).toContain('#8');
    expect(err.message).toMatch(/no absolute clock value before it/);
    expect(codeOf(() => decodeBatch(packr.pack([7, [[5, 10], 1.5]]))).message).toMatch(/not an integer/);
  });

  it('reports bytes that are not a batch as corruption', () => {
    expect(codeOf(() => decodeBatch(new Uint8Array([0xc1]))).code).toBe('LOCKSTEP_LOG_CORRUPT');
    expect(codeOf(() => decodeBatch(packr.pack({ a: 1 }))).message).toMatch(/\[firstSeq, \[entries\]\]/);
    expect(codeOf(() => decodeBatch(packr.pack([0, []]))).message).toMatch(/first entry number is 0/);
  });
});

describe('header', () => {
  it('round-trips and carries the magic string, dropping stray fields', () => {
    const bytes = encodeHeader({ ...HEADER, extra: 'ignored' } as LogHeader);
    expect((packr.unpack(bytes) as { magic: string }).magic).toBe('lockstep-log');
    expect(decodeHeader(bytes)).toEqual(HEADER);
  });

  it('refuses a map without the magic as not a log', () => {
    expect(codeOf(() => decodeHeader(packr.pack({ formatVersion: 1 }))).code).toBe('LOCKSTEP_LOG_NOT_A_LOG');
  });

  it('refuses another format version with advice naming both versions', () => {
    const err = codeOf(() => decodeHeader(packr.pack({ magic: 'lockstep-log', formatVersion: 7 })));
    expect(err.code).toBe('LOCKSTEP_LOG_VERSION');
    expect(err.message.toLowerCase()).toContain(`this log was written by format 7; this lockstep reads format ${LOG_FORMAT_VERSION}`);
  });

  it('refuses a format 3 log (request bodies as text) with LOCKSTEP_LOG_VERSION: such logs are retired, not misread', () => {
    expect(LOG_FORMAT_VERSION).toBe(4);
    const err = codeOf(() => decodeHeader(packr.pack({ ...HEADER, magic: 'lockstep-log', formatVersion: 3 })));
    expect(err.code).toBe('LOCKSTEP_LOG_VERSION');
    expect(err.message).toContain('format 3; this Lockstep reads format 4');
    expect(err.message).toContain('record the log again');
  });

  it('refuses a header with a missing limit as corrupt', () => {
    const { limits, ...rest } = HEADER;
    const err = codeOf(() => decodeHeader(packr.pack({ magic: 'lockstep-log', ...rest, limits: { ...limits, stackBytesMax: undefined } })));
    expect(err.code).toBe('LOCKSTEP_LOG_CORRUPT');
    expect(err.message).toContain('stackBytesMax');
  });
});

describe('checkHeaderCompatible', () => {
  const { createdAtMs: _c, programName: _p, ...expected } = HEADER;

  it('accepts a header of the same run identity', () => {
    expect(() => checkHeaderCompatible(expected, { ...HEADER, createdAtMs: 5, programName: 'renamed.js' })).not.toThrow();
  });

  it.each([
    ['version', { formatVersion: LOG_FORMAT_VERSION + 1 }, 'LOCKSTEP_LOG_VERSION', [`format ${LOG_FORMAT_VERSION + 1}`, `format ${LOG_FORMAT_VERSION}`]],
    ['program', { programHash: 'e'.repeat(64) }, 'LOCKSTEP_LOG_PROGRAM', ['e'.repeat(64), 'f'.repeat(64), 'counter.js']],
    ['runtime', { runtime: 'quickjs-ng' }, 'LOCKSTEP_LOG_RUNTIME', ["'quickjs-ng'", HEADER.runtime]],
    ['limits', { limits: { ...HEADER.limits, cpuPollsPerEventMax: 50 } }, 'LOCKSTEP_LOG_RUNTIME', ['cpuPollsPerEventMax=50', 'cpuPollsPerEventMax=200']],
  ] as const)('refuses a different %s, naming both values', (_what, change, code, parts) => {
    const err = codeOf(() => checkHeaderCompatible(expected, { ...HEADER, ...change }));
    expect(err.code).toBe(code);
    for (const part of parts) expect(err.message).toContain(part);
  });
});
