// The checkpoint's bytes: `LOCKCKPT` | u32 header length (BE) | header (msgpack map) |
// sha256(header) (32 bytes) | body. The header names the run (runtime, program, limits), the entry
// the state was taken after, the state digest, and the body's size, compression and sha256. The body
// is [u32 host JSON length | host JSON | u32 anchor count | u32 anchors... | the heap's sparse image
// (src/sandbox/sparse-heap.ts)], deflated if it pays.
// Encoding and decoding the body (compression, hashing) run on libuv's thread pool, off the event loop.
import { createHash, webcrypto } from 'node:crypto';
import { promisify } from 'node:util';
import { createDeflateRaw, inflateRaw, constants as zlibConstants } from 'node:zlib';
import { Packr } from 'msgpackr';
import type { ExecutorState, HostState } from '../engine/executor.js';
import type { GuestLimits } from '../log/entries.js';
import { CheckpointError } from './errors.js';
import { hostStateBytes } from './state-digest.js';
import { sparseImageProblem, sparsePagesBytes } from '../sandbox/sparse-heap.js';

/** Bumped whenever the layout or the meaning of a field changes. */
export const CHECKPOINT_FORMAT_VERSION = 2; // 2: the heap as a sparse image of its non-zero pages
export const CHECKPOINT_MAGIC = 'LOCKCKPT';
const MAGIC_BYTES = Buffer.from(CHECKPOINT_MAGIC, 'ascii');
const SHA256_BYTES = 32;
/** A header is a few hundred bytes; a bigger length field means damage, not a header. */
export const HEADER_BYTES_MAX = 64 * 1024;
/** Default bound on a checkpoint's uncompressed body: the guest heap (64 MiB limit + the build's 16 MiB base + headroom) plus host state. */
export const CHECKPOINT_BYTES_MAX_DEFAULT = 256 * 1024 * 1024;
/** Compression is kept only if it saves at least this fraction (else the body is stored as is: cheaper to restore). */
const COMPRESSION_SAVING_MIN = 0.1;

const packr = new Packr({ useRecords: false });
const inflateAsync = promisify(inflateRaw);

export type Compression = 'deflate' | 'none';

/** What a run is: a checkpoint is restored only into the same. */
export interface CheckpointIdentity {
  runtime: string;
  programHash: string;
  programName: string;
  limits: GuestLimits;
}

export interface CheckpointHeader extends CheckpointIdentity {
  formatVersion: number;
  /** The state is the one after entry #seq (its host state's lastSeq). */
  seq: number;
  eventsDelivered: number;
  /** stateDigest() of the state: the restore checks it, and an online check compares it. */
  stateDigest: string;
  /** The guest's linear memory size. */
  heapBytes: number;
  /** Of which the body holds this many (its non-zero pages; the rest is zeros). */
  heapUsedBytes: number;
  compression: Compression;
  /** Body bytes before compression. */
  bodyRawBytes: number;
  bodyBytes: number;
  bodySha256: string;
  /** Wall-clock time it was taken (for people). */
  createdAtMs: number;
}

export interface EncodeOptions {
  /** Bound on the uncompressed body, in bytes. */
  checkpointBytesMax?: number;
}

/** The bytes of a checkpoint of `state` (which must be a copy no one mutates meanwhile). */
export async function encodeCheckpoint(identity: CheckpointIdentity, state: ExecutorState, digest: string, options: EncodeOptions = {}): Promise<Uint8Array> {
  const bytesMax = options.checkpointBytesMax ?? CHECKPOINT_BYTES_MAX_DEFAULT;
  const parts = bodyParts(state);
  const rawLength = parts[0].length + parts[1].length;
  if (rawLength > bytesMax) {
    throw new CheckpointError(
      'LOCKSTEP_CHECKPOINT_TOO_LARGE',
      `A checkpoint after entry #${state.host.lastSeq} would be ${rawLength} bytes, more than checkpointBytesMax (${bytesMax} bytes). Raise the bound, or lower the guest's memory limit.`,
    );
  }
  // Deflated from its two parts, so the heap image is never copied into a second big buffer.
  const deflated = await deflateParts(parts);
  const compression: Compression = deflated.length <= rawLength * (1 - COMPRESSION_SAVING_MIN) ? 'deflate' : 'none';
  const body = compression === 'deflate' ? deflated : Buffer.concat(parts);
  const header: CheckpointHeader = {
    formatVersion: CHECKPOINT_FORMAT_VERSION,
    runtime: identity.runtime,
    programHash: identity.programHash,
    programName: identity.programName,
    limits: { ...identity.limits },
    seq: state.host.lastSeq,
    eventsDelivered: state.host.eventsDelivered,
    stateDigest: digest,
    heapBytes: state.heap.memoryBytes,
    heapUsedBytes: sparsePagesBytes(state.heap.sparse),
    compression,
    bodyRawBytes: rawLength,
    bodyBytes: body.length,
    bodySha256: await sha256Hex(body),
    createdAtMs: Date.now(),
  };
  const headerBytes = packr.pack(header);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(headerBytes.length);
  return Buffer.concat([MAGIC_BYTES, length, headerBytes, createHash('sha256').update(headerBytes).digest(), body]);
}

/** The header alone, checked (magic, its checksum, version, fields), without reading the body: for listings. */
export function readCheckpointHeader(bytes: Uint8Array, source = 'the checkpoint'): { header: CheckpointHeader; bodyOffset: number } {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  if (buffer.length < MAGIC_BYTES.length + 4 || !buffer.subarray(0, MAGIC_BYTES.length).equals(MAGIC_BYTES)) {
    throw new CheckpointError('LOCKSTEP_CHECKPOINT_NOT_A_CHECKPOINT', `${source} is not a Lockstep checkpoint: it does not start with '${CHECKPOINT_MAGIC}'. Check the file name.`);
  }
  const headerLength = buffer.readUInt32BE(MAGIC_BYTES.length);
  const headerStart = MAGIC_BYTES.length + 4;
  const bodyOffset = headerStart + headerLength + SHA256_BYTES;
  if (headerLength > HEADER_BYTES_MAX || buffer.length < bodyOffset) {
    throw corrupt(source, `its header declares ${headerLength} bytes but the file holds ${buffer.length} bytes in all (at most ${HEADER_BYTES_MAX} header bytes are allowed)`);
  }
  const headerBytes = buffer.subarray(headerStart, headerStart + headerLength);
  const stored = buffer.subarray(headerStart + headerLength, bodyOffset);
  if (!createHash('sha256').update(headerBytes).digest().equals(stored)) throw corrupt(source, 'the header checksum does not match');
  let header: unknown;
  try {
    header = packr.unpack(headerBytes);
  } catch {
    throw corrupt(source, 'the header cannot be decoded');
  }
  const h = header as CheckpointHeader;
  if (typeof h !== 'object' || h === null) throw corrupt(source, 'the header is not a map');
  if (h.formatVersion !== CHECKPOINT_FORMAT_VERSION) {
    throw new CheckpointError(
      'LOCKSTEP_CHECKPOINT_VERSION',
      `${source} was written in checkpoint format ${JSON.stringify(h.formatVersion)}; this Lockstep reads format ${CHECKPOINT_FORMAT_VERSION}. Take a new checkpoint (or replay the log from entry #1).`,
    );
  }
  const problem = headerProblem(h);
  if (problem) throw corrupt(source, `the header is malformed: ${problem}`);
  return { header: h, bodyOffset };
}

/**
 * The state a checkpoint holds, after checking every checksum and that it belongs to `expected`.
 * Throws CheckpointError for anything wrong: nothing of a refused checkpoint is used.
 */
export async function decodeCheckpoint(
  bytes: Uint8Array,
  expected: Omit<CheckpointIdentity, 'programName'>,
  options: EncodeOptions & { source?: string } = {},
): Promise<{ header: CheckpointHeader; state: ExecutorState }> {
  const source = options.source ?? 'the checkpoint';
  const bytesMax = options.checkpointBytesMax ?? CHECKPOINT_BYTES_MAX_DEFAULT;
  const { header, bodyOffset } = readCheckpointHeader(bytes, source);
  checkIdentity(header, expected, source);
  if (header.bodyRawBytes > bytesMax) {
    throw new CheckpointError('LOCKSTEP_CHECKPOINT_TOO_LARGE', `${source} holds ${header.bodyRawBytes} bytes of state, more than checkpointBytesMax (${bytesMax} bytes). Raise the bound to restore it.`);
  }
  const body = bytes.subarray(bodyOffset);
  if (body.length !== header.bodyBytes) throw corrupt(source, `its body has ${body.length} bytes, the header says ${header.bodyBytes}`);
  if ((await sha256Hex(body)) !== header.bodySha256) throw corrupt(source, 'the body checksum does not match');
  let raw: Buffer;
  try {
    raw = header.compression === 'deflate' ? await inflateAsync(body, { maxOutputLength: header.bodyRawBytes }) : Buffer.from(body.buffer, body.byteOffset, body.length);
  } catch {
    throw corrupt(source, 'its body does not inflate');
  }
  if (raw.length !== header.bodyRawBytes) throw corrupt(source, `its body inflates to ${raw.length} bytes, the header says ${header.bodyRawBytes}`);
  const state = parseBody(raw, header.heapBytes, source);
  const imageProblem = sparseImageProblem(state.heap.sparse, header.heapBytes);
  if (imageProblem) throw corrupt(source, `its heap image is malformed: ${imageProblem}`);
  if (sparsePagesBytes(state.heap.sparse) !== header.heapUsedBytes || state.host.lastSeq !== header.seq) throw corrupt(source, 'the body does not match its header');
  return { header, state };
}

/** The body before compression, in two parts: the host prefix, and the heap image (not copied). */
function bodyParts(state: ExecutorState): [Buffer, Uint8Array] {
  const host = hostStateBytes(state.host);
  const { anchors, sparse } = state.heap;
  const prefix = Buffer.alloc(4 + host.length + 4 + 4 * anchors.length);
  let at = prefix.writeUInt32BE(host.length, 0);
  at += Buffer.from(host.buffer, host.byteOffset, host.length).copy(prefix, at);
  at = prefix.writeUInt32BE(anchors.length, at);
  for (const anchor of anchors) at = prefix.writeUInt32BE(anchor, at);
  return [prefix, sparse];
}

/** deflateRaw of the parts' concatenation, on the thread pool, without concatenating them first. */
function deflateParts(parts: Uint8Array[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const stream = createDeflateRaw({ level: zlibConstants.Z_BEST_SPEED });
    const out: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => out.push(chunk));
    stream.on('error', reject);
    stream.on('end', () => resolve(Buffer.concat(out)));
    for (const part of parts) stream.write(part);
    stream.end();
  });
}

function parseBody(raw: Buffer, memoryBytes: number, source: string): ExecutorState {
  try {
    const hostLength = raw.readUInt32BE(0);
    const host = JSON.parse(raw.subarray(4, 4 + hostLength).toString('utf8')) as HostState;
    let at = 4 + hostLength;
    const anchorCount = raw.readUInt32BE(at);
    at += 4;
    if (anchorCount > 16) throw new Error('too many anchors');
    const anchors: number[] = [];
    for (let i = 0; i < anchorCount; i++, at += 4) anchors.push(raw.readUInt32BE(at));
    // A view: the restore copies the pages into wasm memory, and nothing keeps it after that.
    return { host, heap: { sparse: raw.subarray(at), memoryBytes, anchors } };
  } catch {
    throw corrupt(source, 'its body cannot be parsed');
  }
}

function checkIdentity(header: CheckpointHeader, expected: Omit<CheckpointIdentity, 'programName'>, source: string): void {
  const mismatch = (what: string, advice: string) =>
    new CheckpointError('LOCKSTEP_CHECKPOINT_MISMATCH', `${source} (after entry #${header.seq}) was taken ${what}. ${advice}`);
  if (header.programHash !== expected.programHash) {
    throw mismatch(`from another program: ${header.programName} (sha256 ${header.programHash}), not sha256 ${expected.programHash}`, 'Restore it with the exact program source it was taken from.');
  }
  if (header.runtime !== expected.runtime) throw mismatch(`on runtime '${header.runtime}', this Lockstep runs '${expected.runtime}'`, 'Use the Lockstep version that took it, or replay the log from entry #1.');
  for (const name of Object.keys(expected.limits) as Array<keyof GuestLimits>) {
    if (header.limits[name] !== expected.limits[name]) {
      throw mismatch(`with limit ${name}=${header.limits[name]}, this run uses ${name}=${expected.limits[name]}`, `Run with ${name}=${header.limits[name]}.`);
    }
  }
}

function headerProblem(h: CheckpointHeader): string | undefined {
  const count = (value: unknown) => Number.isSafeInteger(value) && (value as number) >= 0;
  if (typeof h.runtime !== 'string' || typeof h.programHash !== 'string' || typeof h.programName !== 'string') return 'runtime, programHash and programName must be strings';
  if (typeof h.limits !== 'object' || h.limits === null || !count(h.limits.memoryBytesMax) || !count(h.limits.stackBytesMax) || !count(h.limits.cpuPollsPerEventMax)) return 'limits are malformed';
  if (!count(h.seq) || h.seq < 1 || !count(h.eventsDelivered) || !count(h.heapBytes) || !count(h.heapUsedBytes) || !count(h.bodyRawBytes) || !count(h.bodyBytes)) return 'a count is not a non-negative integer';
  if (h.compression !== 'deflate' && h.compression !== 'none') return `unknown compression ${JSON.stringify(h.compression)}`;
  if (typeof h.stateDigest !== 'string' || !/^[0-9a-f]{64}$/.test(h.bodySha256)) return 'a digest is malformed';
  return undefined;
}

function corrupt(source: string, what: string): CheckpointError {
  return new CheckpointError('LOCKSTEP_CHECKPOINT_CORRUPT', `${source} is damaged or was tampered with: ${what}. It was not used; take a new checkpoint, or replay the log from entry #1.`);
}

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  return Buffer.from(await webcrypto.subtle.digest('SHA-256', bytes)).toString('hex');
}
