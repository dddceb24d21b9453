// A recorded log opened for random access. Opening reads only the frame heads and each batch's
// first entry number and count (a few bytes of msgpack), so it costs little even for millions of
// entries; a frame is checked (crc32) and decoded only when one of its entries is asked for. So
// `lockstep inspect --at N` near the end of a long log decodes what it replays, not the whole log.
// Damage in a frame nobody asks for goes unnoticed here (`lockstep log` and `replay` read it all).
import { readFileSync } from 'node:fs';
import { LogFormatError } from '../errors.js';
import { decodeBatch } from '../log/codec.js';
import { crc32 } from '../log/crc32.js';
import type { Entry, LogHeader } from '../log/entries.js';
import { FRAME_BYTES_MAX_DEFAULT, openLog } from '../log/log-file.js';
import { LogUnreadableError } from './errors.js';

/** Decoded frames kept (the most recently used): replay walks forward, `.prev` and `.find` nearby. */
const DECODED_FRAMES_KEPT = 64;
const MAGIC_BYTES_LENGTH = 8;
const FRAME_HEAD_BYTES = 8;

interface Frame {
  /** Byte offset of the payload. */
  start: number;
  length: number;
  checksum: number;
  firstSeq: number;
  count: number;
}

export class LazyLog {
  private readonly frames: Frame[] = [];
  private readonly decoded = new Map<number, Entry[]>();
  readonly firstSeq: number;
  readonly lastSeq: number;

  private constructor(
    private readonly bytes: Uint8Array,
    readonly header: LogHeader,
    readonly source: string,
  ) {
    this.firstSeq = header.firstSeq ?? 1;
    let offset = MAGIC_BYTES_LENGTH;
    offset = this.frameAt(offset, 0).end; // the header frame (openLog decoded it)
    let nextSeq = this.firstSeq;
    while (offset < bytes.length) {
      const { frame, end } = this.frameAt(offset, nextSeq);
      if (frame.firstSeq !== nextSeq) {
        throw new LogFormatError('LOCKSTEP_LOG_GAP', `${source}, frame at byte offset ${offset}: it starts at entry #${frame.firstSeq}, but #${nextSeq} was expected next. Entries #${this.firstSeq}..#${nextSeq - 1} are intact; the log was spliced or its writer is broken.`);
      }
      this.frames.push(frame);
      nextSeq += frame.count;
      offset = end;
    }
    this.lastSeq = nextSeq - 1;
  }

  static open(path: string): LazyLog {
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(path);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR' || code === 'ENOTDIR') throw new LogUnreadableError(path, code);
      throw error;
    }
    return new LazyLog(bytes, openLog(bytes, { source: path }).header, path);
  }

  /** Entry #seq; undefined outside #firstSeq..#lastSeq. */
  entryAt(seq: number): Entry | undefined {
    if (seq < this.firstSeq || seq > this.lastSeq) return undefined;
    let low = 0;
    let high = this.frames.length - 1;
    while (low < high) {
      const mid = (low + high + 1) >> 1;
      if (this.frames[mid].firstSeq <= seq) low = mid;
      else high = mid - 1;
    }
    return this.entriesOf(low)[seq - this.frames[low].firstSeq];
  }

  private entriesOf(index: number): Entry[] {
    const cached = this.decoded.get(index);
    if (cached) {
      this.decoded.delete(index); // most recently used last
      this.decoded.set(index, cached);
      return cached;
    }
    const frame = this.frames[index];
    const where = `${this.source}, frame at byte offset ${frame.start - FRAME_HEAD_BYTES} (entries from #${frame.firstSeq} on)`;
    const payload = this.bytes.subarray(frame.start, frame.start + frame.length);
    if (crc32(payload) !== frame.checksum) {
      throw new LogFormatError('LOCKSTEP_LOG_CORRUPT', `${where}: checksum mismatch. The file is damaged there; restore it from a good copy.`);
    }
    const batch = decodeBatch(payload);
    if (batch.firstSeq !== frame.firstSeq || batch.entries.length !== frame.count) {
      throw new LogFormatError('LOCKSTEP_LOG_CORRUPT', `${where}: the batch decodes to entries #${batch.firstSeq}..#${batch.firstSeq + batch.entries.length - 1}, not what its head says. The file is damaged there.`);
    }
    this.decoded.set(index, batch.entries);
    if (this.decoded.size > DECODED_FRAMES_KEPT) this.decoded.delete(this.decoded.keys().next().value!);
    return batch.entries;
  }

  /** The frame whose head is at `offset`; its first entry number and count are peeked, not decoded. */
  private frameAt(offset: number, expectedSeq: number): { frame: Frame; end: number } {
    const { bytes, source } = this;
    const truncated = (why: string) =>
      new LogFormatError('LOCKSTEP_LOG_TRUNCATED', `${source} is truncated at byte offset ${offset}: ${why}; entries before #${expectedSeq} are intact. A crashed writer leaves this; cut the file to its first ${offset} bytes (head -c ${offset}) to keep them.`);
    if (bytes.length - offset < FRAME_HEAD_BYTES) throw truncated(`only ${bytes.length - offset} of the ${FRAME_HEAD_BYTES} frame head bytes are present`);
    const view = new DataView(bytes.buffer, bytes.byteOffset + offset, FRAME_HEAD_BYTES);
    const length = view.getUint32(0);
    const checksum = view.getUint32(4);
    if (length > FRAME_BYTES_MAX_DEFAULT) throw new LogFormatError('LOCKSTEP_FRAME_TOO_LARGE', `${source}, frame at byte offset ${offset} declares ${length} bytes, more than ${FRAME_BYTES_MAX_DEFAULT}: its length field is damaged.`);
    const start = offset + FRAME_HEAD_BYTES;
    if (bytes.length - start < length) throw truncated(`the frame holds ${length} bytes but only ${bytes.length - start} are present`);
    const frame: Frame = { start, length, checksum, firstSeq: 0, count: 0 };
    if (expectedSeq > 0) {
      const payload = bytes.subarray(start, start + length);
      const peeked = peekBatch(payload);
      if (peeked) Object.assign(frame, peeked);
      else {
        const batch = decodeBatch(payload); // an encoding the peek does not know: decode it whole
        Object.assign(frame, { firstSeq: batch.firstSeq, count: batch.entries.length });
      }
    }
    return { frame, end: start + length };
  }
}

/** [firstSeq, [tuples...]] in msgpack: the first number and the array's length, without decoding the tuples. */
export function peekBatch(p: Uint8Array): { firstSeq: number; count: number } | undefined {
  if (p.length < 3 || p[0] !== 0x92) return undefined;
  const seq = readNumber(p, 1);
  if (!seq || !Number.isSafeInteger(seq.value) || seq.value < 1) return undefined;
  const count = readArrayLength(p, seq.next);
  return count === undefined ? undefined : { firstSeq: seq.value, count };
}

/** A msgpack unsigned integer or float64 at `i`, and the offset after it. */
function readNumber(p: Uint8Array, i: number): { value: number; next: number } | undefined {
  const view = new DataView(p.buffer, p.byteOffset, p.length);
  const has = (n: number) => i + 1 + n <= p.length;
  const tag = p[i];
  if (tag <= 0x7f) return { value: tag, next: i + 1 };
  if (tag === 0xcc && has(1)) return { value: p[i + 1], next: i + 2 };
  if (tag === 0xcd && has(2)) return { value: view.getUint16(i + 1), next: i + 3 };
  if (tag === 0xce && has(4)) return { value: view.getUint32(i + 1), next: i + 5 };
  if (tag === 0xcf && has(8)) return { value: Number(view.getBigUint64(i + 1)), next: i + 9 };
  if (tag === 0xcb && has(8)) return { value: view.getFloat64(i + 1), next: i + 9 };
  return undefined;
}

/** The length of the msgpack array whose head is at `i`. */
function readArrayLength(p: Uint8Array, i: number): number | undefined {
  const view = new DataView(p.buffer, p.byteOffset, p.length);
  const tag = p[i];
  if (tag >= 0x90 && tag <= 0x9f) return tag & 0x0f;
  if (tag === 0xdc && i + 3 <= p.length) return view.getUint16(i + 1);
  if (tag === 0xdd && i + 5 <= p.length) return view.getUint32(i + 1);
  return undefined;
}
