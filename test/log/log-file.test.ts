// Log files on disk: a written log reads back identically, and every kind of damage (bad magic,
// torn last frame, flipped byte, gap, other version, oversized frame) is reported with its code and place.
// Also `lockstep log`, which is a thin printer over the reader.

import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Packr } from 'msgpackr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logCommand } from '../../src/cli/log-command.js';
import { LogFormatError } from '../../src/errors.js';
import { encodeBatch, encodeHeader } from '../../src/log/codec.js';
import { LOG_FORMAT_VERSION, type Entry, type LogHeader } from '../../src/log/entries.js';
import { encodeFrame, LogWriter, openLog, readLogFile } from '../../src/log/log-file.js';

const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

const HEADER: LogHeader = {
  formatVersion: LOG_FORMAT_VERSION,
  runtime: 'quickjs-test',
  programHash: 'a'.repeat(64),
  programName: 'guest.js',
  limits: { memoryBytesMax: 32 << 20, stackBytesMax: 512 << 10, cpuPollsPerEventMax: 100 },
  createdAtMs: 1_700_000_000_000,
};

/** Entry n of a deterministic stream that cycles through every kind. */
function entryAt(n: number): Entry {
  switch (n % 9) {
    case 0: return { kind: 'request', method: 'POST', path: `/r/${n}`, headers: [['idempotency-key', `k${n}`]], body: utf8('x'.repeat(n % 50)) };
    case 1: return { kind: 'now', ms: 1_700_000_000_000 + n };
    case 2: return { kind: 'random', bytes: Uint8Array.from({ length: 8 }, (_, i) => (n * 31 + i) & 0xff) };
    case 3: return { kind: 'timer', timerId: n };
    case 4: return n % 2 ? { kind: 'read', opId: n, ok: true, data: `d${n}` } : { kind: 'read', opId: n, ok: false, error: 'ENOENT' };
    case 5: return n % 2 ? { kind: 'write', opId: n, ok: true } : { kind: 'write', opId: n, ok: false, error: 'EIO' };
    case 6: return { kind: 'now', ms: n + 0.25 };
    case 7: return { kind: 'check', events: n, digest: 'c'.repeat(64) };
    default: return n === 8 ? { kind: 'start' } : { kind: 'stop', reason: `r${n}` };
  }
}
const entries = (from: number, count: number): Entry[] => Array.from({ length: count }, (_, i) => entryAt(from + i));

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lockstep-log-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

let fileNo = 0;
/** Writes `batches` (one flush each) to a fresh file and returns its path and bytes. */
async function writeLog(batches: Entry[][], options = {}): Promise<{ path: string; bytes: Buffer }> {
  const path = join(dir, `log-${++fileNo}.lslog`);
  const writer = await LogWriter.create(path, HEADER, options);
  for (const batch of batches) {
    writer.append(batch);
    await writer.flush();
  }
  await writer.close();
  return { path, bytes: await readFile(path) };
}

/** Byte offsets of every frame after the magic: [header, batch 1, batch 2, ...]. */
function frameOffsets(bytes: Buffer): number[] {
  const offsets = [];
  for (let at = 8; at < bytes.length; at += 8 + bytes.readUInt32BE(at)) offsets.push(at);
  return offsets;
}

async function damaged(bytes: Uint8Array): Promise<LogFormatError> {
  const path = join(dir, `damaged-${++fileNo}.lslog`);
  await writeFile(path, bytes);
  try {
    readLogFile(path);
  } catch (err) {
    expect(err).toBeInstanceOf(LogFormatError);
    expect((err as Error).message).toContain(path);
    return err as LogFormatError;
  }
  throw new Error('the damaged log was read without complaint');
}

describe('LogWriter and readLogFile', () => {
  it('reads back a log of many entries identically, numbered on across appends', async () => {
    const path = join(dir, 'many.lslog');
    // pendingEntriesMax below the 370 entries between flushes, so append also writes on its own.
    const writer = await LogWriter.create(path, HEADER, { pendingEntriesMax: 100 });
    const written: Entry[] = [];
    for (let n = 0; n < 20_000; n += 37) {
      const batch = entries(n, 37);
      written.push(...batch);
      expect(writer.append(batch)).toBe(written.length);
      if (n % 10 === 0) await writer.flush();
    }
    await writer.close();
    const log = readLogFile(path);
    expect(log.header).toEqual(HEADER);
    expect(log.entries.length).toBe(written.length);
    expect(log.entries).toEqual(written);
    expect(frameOffsets(await readFile(path)).length).toBeGreaterThan(1 + 20_000 / 370);
  });

  it('reads a log with a header and no entries', async () => {
    const { path } = await writeLog([]);
    expect(readLogFile(path)).toEqual({ header: HEADER, entries: [], firstSeq: 1 });
  });

  it('splits a batch larger than frameBytesMax into frames that still read back in order', async () => {
    const batch = entries(0, 200);
    const { path, bytes } = await writeLog([batch], { frameBytesMax: 1024 });
    expect(frameOffsets(bytes).length).toBeGreaterThan(3);
    expect(readLogFile(path, { frameBytesMax: 1024 }).entries).toEqual(batch);
  });

  it('refuses to write an entry bigger than frameBytesMax, naming it', async () => {
    const writer = await LogWriter.create(join(dir, 'big.lslog'), HEADER, { frameBytesMax: 256 });
    writer.append([{ kind: 'start' }, { kind: 'request', method: 'POST', path: '/', headers: [], body: utf8('y'.repeat(1000)) }]);
    const err = await writer.close().then(() => undefined, (e: unknown) => e as LogFormatError);
    expect(err?.code).toBe('LOCKSTEP_FRAME_TOO_LARGE');
    expect(err?.message).toContain('Entry #2');
  });

  it('reports a failed automatic flush from the next flush, and writes nothing after it', async () => {
    const path = join(dir, 'auto.lslog');
    const writer = await LogWriter.create(path, HEADER, { frameBytesMax: 256, pendingEntriesMax: 1 });
    writer.append([{ kind: 'request', method: 'POST', path: '/', headers: [], body: utf8('y'.repeat(1000)) }]);
    writer.append([{ kind: 'start' }]);
    await expect(writer.flush()).rejects.toMatchObject({ code: 'LOCKSTEP_FRAME_TOO_LARGE' });
    await expect(writer.close()).rejects.toMatchObject({ code: 'LOCKSTEP_FRAME_TOO_LARGE' });
    expect(readLogFile(path).entries).toEqual([]);
  });
});

describe('damage is detected', () => {
  it('reports a file that is not a log', async () => {
    const err = await damaged(Buffer.from('{"hello": "json"}\n'));
    expect(err.code).toBe('LOCKSTEP_LOG_NOT_A_LOG');
    expect(err.message).toContain('byte offset 0');
  });

  it('reports a torn last frame with the number of complete entries', async () => {
    const { bytes } = await writeLog([entries(0, 5), entries(5, 4), entries(9, 3)]);
    const err = await damaged(bytes.subarray(0, bytes.length - 7));
    expect(err.code).toBe('LOCKSTEP_LOG_TRUNCATED');
    expect(err.message).toContain('9 complete entries');
    expect(err.message).toContain('#1..#9');
    expect(err.message).toContain(`byte offset ${frameOffsets(bytes)[3]}`);
  });

  it('reports a frame head cut short, and a file cut inside its magic', async () => {
    const { bytes } = await writeLog([entries(0, 5), entries(5, 4)]);
    const cut = frameOffsets(bytes)[2]! + 3;
    const err = await damaged(bytes.subarray(0, cut));
    expect(err.code).toBe('LOCKSTEP_LOG_TRUNCATED');
    expect(err.message).toContain('#1..#5');
    expect((await damaged(bytes.subarray(0, 4))).code).toBe('LOCKSTEP_LOG_TRUNCATED');
  });

  it('still yields the complete entries before a torn frame from the iterator', async () => {
    const { bytes } = await writeLog([entries(0, 5), entries(5, 4)]);
    const log = openLog(bytes.subarray(0, bytes.length - 1));
    const seen: Entry[] = [];
    expect(() => {
      for (const entry of log.entries()) seen.push(entry);
    }).toThrow(/truncated/);
    expect(seen).toEqual(entries(0, 5));
  });

  it('reports a flipped byte as a checksum mismatch naming the first entry of the frame', async () => {
    const { bytes } = await writeLog([entries(0, 5), entries(5, 4), entries(9, 3)]);
    const copy = Buffer.from(bytes);
    const at = frameOffsets(bytes)[2]!;
    copy[at + 8 + 4]! ^= 0x40;
    const err = await damaged(copy);
    expect(err.code).toBe('LOCKSTEP_LOG_CORRUPT');
    expect(err.message).toContain('entries from #6 on');
    expect(err.message).toContain(`byte offset ${at}`);
  });

  it('reports a gap and a repeat in entry numbers', async () => {
    const frames = (...batches: Array<[number, Entry[]]>): Buffer =>
      Buffer.concat([Buffer.from('LOCKSTEP'), encodeFrame(encodeHeader(HEADER)), ...batches.map(([seq, b]) => encodeFrame(encodeBatch(seq, b)))]);
    const gap = await damaged(frames([1, entries(0, 2)], [5, entries(2, 2)]));
    expect(gap.code).toBe('LOCKSTEP_LOG_GAP');
    expect(gap.message).toContain('skips entries #3..#4');
    const repeat = await damaged(frames([1, entries(0, 3)], [3, entries(2, 2)]));
    expect(repeat.code).toBe('LOCKSTEP_LOG_GAP');
    expect(repeat.message).toContain('repeats entry #3');
    expect((await damaged(frames([2, entries(0, 1)]))).message).toContain('skips entries #1..#1');
  });

  it('refuses another format version with advice', async () => {
    const header = new Packr({ useRecords: false }).pack({ magic: 'lockstep-log', formatVersion: 99, runtime: 'future' });
    const err = await damaged(Buffer.concat([Buffer.from('LOCKSTEP'), encodeFrame(header)]));
    expect(err.code).toBe('LOCKSTEP_LOG_VERSION');
    expect(err.message).toContain(`written by format 99; this Lockstep reads format ${LOG_FORMAT_VERSION}`);
  });

  it('refuses a frame longer than frameBytesMax, with its entry number and offset', async () => {
    const { bytes } = await writeLog([entries(0, 3), entries(3, 100)]);
    const copy = Buffer.from(bytes);
    const at = frameOffsets(bytes)[2]!;
    copy.writeUInt32BE(0xfffffff0, at);
    const err = await damaged(copy);
    expect(err.code).toBe('LOCKSTEP_FRAME_TOO_LARGE');
    expect(err.message).toContain('entries from #4 on');
    expect(err.message).toContain(`byte offset ${at}`);
  });
});

describe('logCommand', () => {
  it('prints the header then one numbered line per entry', async () => {
    const { path } = await writeLog([[{ kind: 'start' }, { kind: 'timer', timerId: 4 }]]);
    const lines: string[] = [];
    expect(await logCommand(path, {}, (line) => lines.push(line))).toBe(0);
    expect(lines).toHaveLength(3);
    expect(lines[0]).toContain('guest.js');
    expect(lines.slice(1)).toEqual(['#1  event start', '#2  event timer #4']);
  });

  it('prints JSON lines with random bytes as hex', async () => {
    const { path } = await writeLog([[{ kind: 'start' }, { kind: 'random', bytes: new Uint8Array([1, 255]) }]]);
    const lines: string[] = [];
    await logCommand(path, { json: true }, (line) => lines.push(line));
    expect(JSON.parse(lines[0]!)).toEqual({ header: HEADER });
    expect(JSON.parse(lines[2]!)).toEqual({ seq: 2, kind: 'random', bytes: '01ff' });
  });

  it('propagates damage as a LogFormatError', async () => {
    const path = join(dir, 'notalog.txt');
    await writeFile(path, 'hello world');
    await expect(logCommand(path, {}, () => {})).rejects.toMatchObject({ code: 'LOCKSTEP_LOG_NOT_A_LOG' });
  });
});

describe('cutting a log at a checkpoint (a bounded recording)', () => {
  it('keeps the entries from #n in order, with later appends written after the cut, and reads back from #n', async () => {
    const cutDir = await mkdtemp(join(tmpdir(), 'lockstep-cut-'));
    try {
      const path = join(cutDir, 'cut.log');
      const writer = await LogWriter.create(path, HEADER, { pendingEntriesMax: 7 });
      writer.append(entries(1, 50));
      await writer.flush();
      writer.append(entries(51, 50));
      const before = writer.bytesWritten;
      const cut = writer.cutBefore(60);
      writer.append(entries(101, 20)); // queued while the cut runs: written after it
      void writer.flush();
      await cut;
      expect(writer.bytesWritten).toBeLessThan(before);
      writer.append(entries(121, 5));
      await writer.close();
      const read = readLogFile(path);
      expect(read.firstSeq).toBe(60);
      expect(read.header.firstSeq).toBe(60);
      expect(read.entries).toEqual(entries(60, 66));
      expect((await readFile(path)).length).toBe(writer.bytesWritten);
      const printed: string[] = [];
      expect(await logCommand(path, {}, (line) => printed.push(line))).toBe(0);
      expect(printed[0]).toMatch(/cut to stay bounded: entries from #60 on/);
      expect(printed[1]).toMatch(/^#60 /);
    } finally {
      await rm(cutDir, { recursive: true, force: true });
    }
  });
});
