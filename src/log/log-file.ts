// Log files: the 8 bytes `LOCKSTEP`, then frames `u32 payloadLength (BE) | u32 crc32(payload) | payload`.
// Frame 1 is the header, each later frame a batch of entries numbered on from the last (from #1, or
// from the header's firstSeq once a bounded recording was cut at a checkpoint). A crash may leave a
// torn last frame; the reader reports it (and every other damage) with entry and byte offset.

import { readFileSync } from 'node:fs';
import { open, rename, type FileHandle } from 'node:fs/promises';
import { assert } from '../assert.js';
import { LogFormatError } from '../errors.js';
import { decodeBatch, decodeHeader, encodeBatch, encodeHeader } from './codec.js';
import { crc32 } from './crc32.js';
import { describeEntry, LOG_FORMAT_VERSION, type Entry, type LogHeader } from './entries.js';

export const FILE_MAGIC = 'LOCKSTEP';
const MAGIC_BYTES = Buffer.from(FILE_MAGIC, 'ascii');
const FRAME_HEAD_BYTES = 8;
/** A bound on one frame, so a damaged length field cannot make a reader allocate gigabytes. */
export const FRAME_BYTES_MAX_DEFAULT = 16 * 1024 * 1024;
/** Entries buffered before `append` writes them on its own, so a caller that never flushes stays bounded. */
export const PENDING_ENTRIES_MAX_DEFAULT = 4096;

export interface LogFileOptions {
  /** Largest frame payload written or accepted, in bytes. */
  frameBytesMax?: number;
}
export interface LogWriterOptions extends LogFileOptions {
  /** Buffered entries that trigger a flush from `append`. */
  pendingEntriesMax?: number;
}
export interface LogContents {
  header: LogHeader;
  /** Entry #firstSeq is entries[0]: the reader has checked that numbering has no gaps. */
  entries: Entry[];
  /** 1, or where a cut recording starts. */
  firstSeq: number;
}
/** Frame starts kept for cutting (the newest): a cut follows a checkpoint within a few frames. */
const FRAME_STARTS_KEPT = 65_536;
type LogFormatCode = ConstructorParameters<typeof LogFormatError>[0];

/** One frame around `payload`: length, checksum, payload. */
export function encodeFrame(payload: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_HEAD_BYTES + payload.length);
  frame.writeUInt32BE(payload.length, 0);
  frame.writeUInt32BE(crc32(payload), 4);
  frame.set(payload, FRAME_HEAD_BYTES);
  return frame;
}

export class LogWriter {
  private pending: Entry[] = [];
  private nextSeq: number;
  /** Bytes in the file once every queued write is done. */
  private bytesQueued: number;
  /** Where recent batch frames start, oldest first, so a cut reads only the tail it keeps. */
  private frameStarts: Array<{ firstSeq: number; offset: number }> = [];
  private readonly header: LogHeader;
  /** Writes run one after another in append order; once one fails, every later flush fails with it. */
  private writing: Promise<void> = Promise.resolve();
  private closed = false;

  private constructor(
    private file: FileHandle,
    readonly path: string,
    header: LogHeader,
    headerBytes: number,
    private readonly frameBytesMax: number,
    private readonly pendingEntriesMax: number,
  ) {
    this.header = { ...header };
    this.nextSeq = header.firstSeq ?? 1;
    this.bytesQueued = headerBytes;
  }

  /** Creates (or truncates) `path` and writes the magic and the header. The caller must `close()` the writer. */
  static async create(path: string, header: LogHeader, options: LogWriterOptions = {}): Promise<LogWriter> {
    assert(header.formatVersion === LOG_FORMAT_VERSION, `a new log must be format ${LOG_FORMAT_VERSION}, not ${header.formatVersion}`);
    const frameBytesMax = options.frameBytesMax ?? FRAME_BYTES_MAX_DEFAULT;
    const payload = encodeHeader(header);
    if (payload.length > frameBytesMax) throw tooLarge(`The log header of ${path} encodes to ${payload.length} bytes`, frameBytesMax);
    const file = await open(path, 'w+'); // readable too: a cut reads its tail back
    const head = Buffer.concat([MAGIC_BYTES, encodeFrame(payload)]);
    try {
      await writeFully(file, head);
    } catch (err) {
      await file.close();
      throw err;
    }
    return new LogWriter(file, path, header, head.length, frameBytesMax, options.pendingEntriesMax ?? PENDING_ENTRIES_MAX_DEFAULT);
  }

  /** The file's size once every write queued so far is done. */
  get bytesWritten(): number {
    return this.bytesQueued;
  }

  /**
   * Drops every entry before #fromSeq from the file (a checkpoint of the state after #fromSeq-1 is
   * kept beside it): the file is rewritten as header (firstSeq) + the entries from #fromSeq, in order
   * with every write queued before, and replaced at once (rename), so it is never half-cut.
   */
  cutBefore(fromSeq: number): Promise<void> {
    const queued = this.flush();
    const end = this.bytesQueued; // frames queued later are written after the cut, and move with it
    this.writing = queued.then(() => this.rewriteFrom(fromSeq, end));
    this.writing.catch(() => {});
    return this.writing;
  }

  private async rewriteFrom(fromSeq: number, end: number): Promise<void> {
    const start = this.frameStarts.filter((f) => f.firstSeq <= fromSeq && f.offset < end).at(-1);
    if (!start || fromSeq <= (this.header.firstSeq ?? 1)) return; // too old to find, or nothing before it
    const tail = Buffer.alloc(end - start.offset);
    await this.file.read(tail, 0, tail.length, start.offset);
    const kept: Entry[] = [];
    let seq = start.firstSeq;
    for (let offset = 0; offset < tail.length; ) {
      const frame = readFrame(tail, offset, 0, seq - 1, this.path, this.frameBytesMax)!;
      for (const entry of decodeBatch(frame.payload).entries) if (seq++ >= fromSeq) kept.push(entry);
      offset = frame.end;
    }
    const next = await LogWriter.create(`${this.path}.cut`, { ...this.header, firstSeq: fromSeq }, { frameBytesMax: this.frameBytesMax });
    next.append(kept);
    await next.close();
    await this.file.close();
    await rename(`${this.path}.cut`, this.path);
    this.file = await open(this.path, 'a+');
    this.header.firstSeq = fromSeq;
    const shift = next.bytesQueued - end;
    const later = this.frameStarts.filter((f) => f.offset >= end).map((f) => ({ firstSeq: f.firstSeq, offset: f.offset + shift }));
    this.frameStarts = [...next.frameStarts, ...later];
    this.bytesQueued += shift;
  }

  /** Seq of the last entry appended (0 before any). */
  get lastSeq(): number {
    return this.nextSeq - 1;
  }

  /** Numbers `entries` on from the last one and buffers them; returns the seq of the last. */
  append(entries: Entry[]): number {
    assert(!this.closed, `append to closed log ${this.path}`);
    for (const entry of entries) this.pending.push(entry);
    this.nextSeq += entries.length;
    // Its failure is not lost: the next flush() or close() rejects with it.
    if (this.pending.length >= this.pendingEntriesMax) void this.flush();
    return this.lastSeq;
  }

  /** Writes the buffered entries; resolves once they, and all appended before them, are written. */
  flush(): Promise<void> {
    if (this.pending.length > 0) {
      const batch = this.pending;
      this.pending = [];
      // Encode now, not when the write's turn comes: entries are checked at the moment they were handed over.
      let bytes: Buffer | undefined;
      let failure: unknown;
      try {
        const frames = this.batchFrames(this.nextSeq - batch.length, batch);
        this.noteFrames(this.nextSeq - batch.length, frames);
        bytes = Buffer.concat(frames.map((f) => f.frame));
      } catch (err) {
        failure = err;
      }
      this.writing = this.writing.then(() => (bytes === undefined ? Promise.reject(failure) : writeFully(this.file, bytes)));
      this.writing.catch(() => {}); // reported to whoever awaits flush()/close(), not as an unhandled rejection
    }
    return this.writing;
  }

  /** Flushes and closes: the file is complete once this resolves. */
  async close(): Promise<void> {
    if (this.closed) return;
    const written = this.flush();
    this.closed = true;
    try {
      await written;
    } finally {
      await this.file.close();
    }
  }

  /** Records where each frame will start (entry numbers are read back from the frames only when cutting). */
  private noteFrames(firstSeq: number, frames: Array<{ frame: Buffer; count: number }>): void {
    let seq = firstSeq;
    for (const { frame, count } of frames) {
      this.frameStarts.push({ firstSeq: seq, offset: this.bytesQueued });
      this.bytesQueued += frame.length;
      seq += count;
    }
    if (this.frameStarts.length > FRAME_STARTS_KEPT) this.frameStarts.splice(0, this.frameStarts.length - FRAME_STARTS_KEPT);
  }

  /** Frames for entries #firstSeq.., halving batches until each fits in frameBytesMax. */
  private batchFrames(firstSeq: number, entries: Entry[]): Array<{ frame: Buffer; count: number }> {
    const payload = encodeBatch(firstSeq, entries);
    if (payload.length <= this.frameBytesMax) return [{ frame: encodeFrame(payload), count: entries.length }];
    if (entries.length === 1) {
      throw tooLarge(`Entry #${firstSeq} (${describeEntry(entries[0]!)}) encodes to ${payload.length} bytes`, this.frameBytesMax);
    }
    const half = Math.ceil(entries.length / 2);
    return [...this.batchFrames(firstSeq, entries.slice(0, half)), ...this.batchFrames(firstSeq + half, entries.slice(half))];
  }
}

/** Reads a whole log, checking magic, framing, checksums, version and numbering. */
export function readLogFile(path: string, options: LogFileOptions = {}): LogContents {
  const log = openLog(readFileSync(path), { ...options, source: path });
  return { header: log.header, entries: [...log.entries()], firstSeq: log.header.firstSeq ?? 1 };
}

/**
 * The iterator form: the header is checked at once; `entries()` yields entry #1, #2, ... and throws at
 * the first damage, after yielding every entry before it (so a torn log can still be replayed up to it).
 */
export function openLog(bytes: Uint8Array, options: LogFileOptions & { source?: string } = {}): { header: LogHeader; entries(): Generator<Entry> } {
  const source = options.source ?? 'the log';
  const frameBytesMax = options.frameBytesMax ?? FRAME_BYTES_MAX_DEFAULT;
  const head = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.length, MAGIC_BYTES.length));
  if (bytes.length < MAGIC_BYTES.length && MAGIC_BYTES.subarray(0, bytes.length).equals(head)) {
    throw new LogFormatError('LOCKSTEP_LOG_TRUNCATED', `${source} is truncated: it has ${bytes.length} bytes and ends before its header; 0 entries could be read. Its writer probably crashed at once; record again.`);
  }
  if (!head.equals(MAGIC_BYTES)) {
    throw new LogFormatError('LOCKSTEP_LOG_NOT_A_LOG', `${source} is not a Lockstep log: byte offset 0 holds ${JSON.stringify(head.toString('latin1'))}, not '${FILE_MAGIC}'. Check the file name.`);
  }
  const first = readFrame(bytes, MAGIC_BYTES.length, 1, 0, source, frameBytesMax);
  if (first === undefined) {
    throw new LogFormatError('LOCKSTEP_LOG_TRUNCATED', `${source} is truncated at byte offset ${MAGIC_BYTES.length}: it ends before its header; 0 entries could be read. Its writer probably crashed at once; record again.`);
  }
  const header = rethrowAt(() => decodeHeader(first.payload), `${source}, header frame at byte offset ${MAGIC_BYTES.length}`);
  const headerEnd = first.end;

  function* entries(): Generator<Entry> {
    let offset = headerEnd;
    let nextSeq = header.firstSeq ?? 1;
    for (let frameNo = 2; ; frameNo++) {
      const frame = readFrame(bytes, offset, frameNo, nextSeq - 1, source, frameBytesMax);
      if (frame === undefined) return;
      const where = `${source}, frame ${frameNo} at byte offset ${offset} (entries from #${nextSeq} on)`;
      const batch = rethrowAt(() => decodeBatch(frame.payload), where);
      if (batch.firstSeq !== nextSeq) {
        const what = batch.firstSeq < nextSeq ? `repeats entry #${batch.firstSeq}` : `skips entries #${nextSeq}..#${batch.firstSeq - 1}`;
        throw new LogFormatError(
          'LOCKSTEP_LOG_GAP',
          `${where}: the frame starts at entry #${batch.firstSeq}, so the log ${what}. Entries #1..#${nextSeq - 1} are intact; the log was spliced or its writer is broken.`,
        );
      }
      yield* batch.entries;
      nextSeq += batch.entries.length;
      offset = frame.end;
    }
  }
  return { header, entries };
}

/** The frame at `offset`, or undefined at the end of the file. `entriesRead` is for messages. */
function readFrame(bytes: Uint8Array, offset: number, frameNo: number, entriesRead: number, source: string, frameBytesMax: number): { payload: Uint8Array; end: number } | undefined {
  if (offset === bytes.length) return undefined;
  const intact = entriesRead === 0 ? 'no entries could be read' : `entries #1..#${entriesRead} (${entriesRead} complete entries) could be read`;
  const truncated = (why: string): LogFormatError =>
    new LogFormatError(
      'LOCKSTEP_LOG_TRUNCATED',
      `${source} is truncated at byte offset ${offset}, in frame ${frameNo}: ${why}; ${intact}. ` +
        `A crashed writer leaves this; to keep the complete entries, cut the file to its first ${offset} bytes (head -c ${offset}).`,
    );
  if (bytes.length - offset < FRAME_HEAD_BYTES) throw truncated(`only ${bytes.length - offset} of the ${FRAME_HEAD_BYTES} frame head bytes are present`);
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset, FRAME_HEAD_BYTES);
  const length = view.getUint32(0);
  const checksum = view.getUint32(4);
  if (length > frameBytesMax) {
    throw tooLarge(`${source}, frame ${frameNo} at byte offset ${offset} (entries from #${entriesRead + 1} on) declares ${length} bytes`, frameBytesMax);
  }
  const start = offset + FRAME_HEAD_BYTES;
  if (bytes.length - start < length) throw truncated(`the frame holds ${length} bytes but only ${bytes.length - start} are present`);
  const payload = bytes.subarray(start, start + length);
  if (crc32(payload) !== checksum) {
    throw new LogFormatError(
      'LOCKSTEP_LOG_CORRUPT',
      `${source}, frame ${frameNo} at byte offset ${offset} (entries from #${entriesRead + 1} on): checksum mismatch ` +
        `(stored ${hex32(checksum)}, computed ${hex32(crc32(payload))}). The file is damaged there; ${intact}. ` +
        `Restore it from a good copy, or cut it to its first ${offset} bytes (head -c ${offset}) to keep the intact entries.`,
    );
  }
  return { payload, end: start + length };
}

function tooLarge(what: string, frameBytesMax: number): LogFormatError {
  return new LogFormatError(
    'LOCKSTEP_FRAME_TOO_LARGE',
    `${what}, more than frameBytesMax (${frameBytesMax} bytes). Lower the request body limit, or raise frameBytesMax if the frame is genuine (a damaged length field also looks like this).`,
  );
}

/** Adds the place (file, frame, offset) to a codec error, which only knows the entry number. */
function rethrowAt<T>(decode: () => T, where: string): T {
  try {
    return decode();
  } catch (err) {
    if (err instanceof LogFormatError) throw new LogFormatError(err.code as LogFormatCode, `${where}: ${err.message}`);
    throw err;
  }
}

async function writeFully(file: FileHandle, bytes: Uint8Array): Promise<void> {
  for (let done = 0; done < bytes.length; ) {
    const { bytesWritten } = await file.write(bytes, done, bytes.length - done);
    done += bytesWritten;
  }
}

function hex32(n: number): string {
  return n.toString(16).padStart(8, '0');
}
