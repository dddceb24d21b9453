// The channel's wire vocabulary: one binary WebSocket message is one msgpack tuple whose first
// element is a type code. Decoding validates every field, so garbage becomes a ChannelProtocolError.
// hello, auth and welcome travel as they are; every frame after them is sealed (see frame-auth.ts).

import { Packr } from 'msgpackr';
import type { LogHeader } from '../log/entries.js';
import { ChannelProtocolError } from './errors.js';
import { LINEAGE_FORKS_MAX, type Fork } from '../replication/lineage.js';
import { NONCE_BYTES } from './secret.js';

/**
 * Bumped whenever a tuple below changes shape or meaning (2: welcome carries lastSeq; 3: every frame
 * after the handshake is sealed; 4: a welcome may announce a checkpoint, sent in `checkpoint` frames
 * before the batches; acks carry how far the secondary has replayed; 5: welcome carries the primary's
 * lineage, its fork points; auth carries replayedSeq; 6: fencing tokens on auth, welcome, batches and acks;
 * a welcome may announce the guest's files, sent in `files` frames after the checkpoint; auth names the node;
 * a shadow (a connection on /shadow) is told the answers the primary released, and may ask for a switchover).
 */
export const CHANNEL_PROTOCOL_VERSION = 6;
/** Refuse/bye texts are for people; a bound keeps a hostile peer from making us log megabytes. */
export const TEXT_CHARS_MAX = 4096;
const PROOF_BYTES = 32; // HMAC-SHA256

export const MessageType = {
  hello: 1,
  auth: 2,
  welcome: 3,
  refuse: 4,
  batch: 5,
  ack: 6,
  heartbeat: 7,
  bye: 8,
  released: 9,
  checkpoint: 10,
  files: 11,
  answers: 12,
  switchover: 13,
} as const;

/** What a secondary keeps of the guest's files: nothing (a shared --dir), a replica it holds, or one it needs given whole. */
export const REPLICA = { none: 0, have: 1, need: 2 } as const;
export type ReplicaState = (typeof REPLICA)[keyof typeof REPLICA];
/** A node's name travels in auth (the primary declares it a member of the epoch); bounded like a key part. */
export const NODE_NAME_CHARS_MAX = 128;
export const FILES_DIGEST_BYTES = 32; // SHA-256

/** server -> client, first frame: [1, protocolVersion, serverNonce] */
export interface Hello { type: 'hello'; protocolVersion: number; serverNonce: Uint8Array }
/**
 * client -> server: [2, clientNonce, proof, header, haveSeq, replayedSeq, token, replica, node]; proof = HMAC(secret, serverNonce|clientNonce|'client');
 * replayedSeq <= haveSeq: what it has replayed of what it holds (the primary bounds the replay backlog on it from the start).
 * token: the highest fencing token it has followed (a primary with a lower one is deposed). replica: REPLICA. node: its name.
 */
export interface Auth { type: 'auth'; clientNonce: Uint8Array; proof: Uint8Array; header: LogHeader; haveSeq: number; replayedSeq: number; token: number; replica: ReplicaState; node: string }
/**
 * server -> client: [3, proof, header, startSeq, epoch, lastSeq, checkpointBytes]; proof uses role 'server'; startSeq is
 * the first seq it will stream; lastSeq is the primary's last entry at attach: the secondary is caught up once it holds
 * it. checkpointBytes > 0: the state after entry #startSeq-1 comes first, in `checkpoint` frames of that many bytes in all
 * (re-protection from a checkpoint: the secondary replaces whatever it held by it). forks: the primary's lineage, where
 * each epoch's log left its predecessor's (replication/lineage.ts), flat as [epoch, forkSeq, epoch, forkSeq...].
 * token: the fencing token of the primary's epoch (the arbiter's). files: 1 when the guest's files follow the checkpoint
 * (in `files` frames, before any batch), for a secondary that keeps its own replica of them.
 */
export interface Welcome { type: 'welcome'; proof: Uint8Array; header: LogHeader; startSeq: number; epoch: number; lastSeq: number; checkpointBytes: number; forks: Fork[]; token: number; files: boolean }
/** either way, right before closing: [4, code, message] */
export interface Refuse { type: 'refuse'; code: string; message: string }
/** server -> client: [5, firstSeq, count, payload, token]; payload is an opaque encoded log batch; token: the welcome's. */
export interface Batch { type: 'batch'; firstSeq: number; count: number; payload: Uint8Array; token: number }
/** client -> server: [6, seq, replayedSeq, token]; seq = highest contiguous seq received (and held); replayedSeq = the last one replayed; token: the welcome's. */
export interface Ack { type: 'ack'; seq: number; replayedSeq: number; token: number }
/** either way: [7, sentMs, echoMs|null, heldMs]; echo is the peer's last sentMs, held how long we sat on it (for RTT). */
export interface Heartbeat { type: 'heartbeat'; sentMs: number; echoMs: number | null; heldMs: number }
/** either way, planned stop: [8, reason] */
export interface Bye { type: 'bye'; reason: string }

/** server -> client: [9, seq]; every output gated on an entry <= seq has left the primary (the rest is uncertain at go-live). */
export interface Released { type: 'released'; seq: number }
/** server -> client, right after the welcome when it announced one: [10, offset, chunk]; the chunks are contiguous. */
export interface CheckpointChunk { type: 'checkpoint'; offset: number; chunk: Uint8Array }
/**
 * server -> client, after the checkpoint when the welcome announced files: [11, offset, total, digest, chunk]; the chunks
 * are contiguous and make `total` bytes whose SHA-256 is `digest`: the guest's files (replication/files-archive.ts).
 */
export interface FilesChunk { type: 'files'; offset: number; total: number; digest: Uint8Array; chunk: Uint8Array }
/** One answer the primary released: to request #seq (its entry), as the client received it. */
export interface ReleasedAnswer { seq: number; status: number; headers: Record<string, string>; body: Uint8Array }
/** server -> shadow: [12, [seq, status, [name, value, ...], body]...]; answers released since the last such frame. */
export interface Answers { type: 'answers'; answers: ReleasedAnswer[] }
/** Phases of a planned switchover to a shadow (replication/switchover.ts). */
export type SwitchoverPhase = 'request' | 'prepared' | 'ready' | 'abort';
/** either way between a primary and its shadow: [13, phase, seq, reason] (see replication/switchover.ts for what seq is in each phase). */
export interface Switchover { type: 'switchover'; phase: SwitchoverPhase; seq: number; reason: string }
export type ChannelMessage = Hello | Auth | Welcome | Refuse | Batch | Ack | Heartbeat | Bye | Released | CheckpointChunk | FilesChunk | Answers | Switchover;
const SWITCHOVER_PHASES: readonly SwitchoverPhase[] = ['request', 'prepared', 'ready', 'abort'];
/** A released answer's header name or value, at most, in chars (a guest's headers are its own; this only bounds garbage). */
const ANSWER_HEADER_CHARS_MAX = 64 * 1024;
/** Answers in one frame, at most (the frame limit bounds their bytes). */
export const ANSWERS_PER_FRAME_MAX = 4096;

const packr = new Packr({ useRecords: false });

export function encodeMessage(message: ChannelMessage): Uint8Array {
  return packr.pack(toTuple(message));
}

function toTuple(m: ChannelMessage): unknown[] {
  switch (m.type) {
    case 'hello':
      return [MessageType.hello, m.protocolVersion, m.serverNonce];
    case 'auth':
      return [MessageType.auth, m.clientNonce, m.proof, m.header, m.haveSeq, m.replayedSeq, m.token, m.replica, m.node];
    case 'welcome':
      return [MessageType.welcome, m.proof, m.header, m.startSeq, m.epoch, m.lastSeq, m.checkpointBytes, m.forks.flatMap((f) => [f.epoch, f.forkSeq]), m.token, m.files ? 1 : 0];
    case 'refuse':
      return [MessageType.refuse, m.code, m.message.slice(0, TEXT_CHARS_MAX)];
    case 'batch':
      return [MessageType.batch, m.firstSeq, m.count, m.payload, m.token];
    case 'ack':
      return [MessageType.ack, m.seq, m.replayedSeq, m.token];
    case 'heartbeat':
      return [MessageType.heartbeat, m.sentMs, m.echoMs, m.heldMs];
    case 'bye':
      return [MessageType.bye, m.reason.slice(0, TEXT_CHARS_MAX)];
    case 'released':
      return [MessageType.released, m.seq];
    case 'checkpoint':
      return [MessageType.checkpoint, m.offset, m.chunk];
    case 'files':
      return [MessageType.files, m.offset, m.total, m.digest, m.chunk];
    case 'answers':
      return [MessageType.answers, m.answers.map((a) => [a.seq, a.status, Object.entries(a.headers).flat(), a.body])];
    case 'switchover':
      return [MessageType.switchover, m.phase, m.seq, m.reason.slice(0, TEXT_CHARS_MAX)];
    default: {
      const never: never = m;
      throw new Error(`unknown channel message ${JSON.stringify(never)}`);
    }
  }
}

/** Decode and validate one frame. `peer` only labels the error. */
export function decodeMessage(bytes: Uint8Array, peer: string): ChannelMessage {
  let value: unknown;
  try {
    value = packr.unpack(bytes);
  } catch {
    throw new ChannelProtocolError(`a ${bytes.length}-byte frame is not msgpack`, peer);
  }
  if (!Array.isArray(value) || value.length === 0) throw new ChannelProtocolError('a frame is not a message tuple', peer);
  const f = new Fields(value, peer);
  const message = f.parse();
  f.end();
  return message;
}

/** A hostile value, described without JSON.stringify (BigInt throws) and without echoing much. */
function shown(value: unknown): string {
  return typeof value === 'number' || typeof value === 'string' ? String(value).slice(0, 40) : typeof value;
}

/** Reads a tuple field by field, naming the message and field that is wrong. */
class Fields {
  private index = 1;
  private name = 'message';
  constructor(
    private readonly tuple: unknown[],
    private readonly peer: string,
  ) {}

  parse(): ChannelMessage {
    switch (this.tuple[0]) {
      case MessageType.hello:
        this.name = 'hello';
        return { type: 'hello', protocolVersion: this.int('protocolVersion'), serverNonce: this.bytes('serverNonce', NONCE_BYTES) };
      case MessageType.auth:
        this.name = 'auth';
        return {
          type: 'auth', clientNonce: this.bytes('clientNonce', NONCE_BYTES), proof: this.bytes('proof', PROOF_BYTES), header: this.header(),
          haveSeq: this.int('haveSeq'), replayedSeq: this.int('replayedSeq'), token: this.int('token'), replica: this.replica(), node: this.text('node', NODE_NAME_CHARS_MAX),
        };
      case MessageType.welcome:
        this.name = 'welcome';
        return {
          type: 'welcome', proof: this.bytes('proof', PROOF_BYTES), header: this.header(), startSeq: this.int('startSeq', 1), epoch: this.int('epoch'),
          lastSeq: this.int('lastSeq'), checkpointBytes: this.int('checkpointBytes'), forks: this.forks(), token: this.int('token'), files: this.flag('files'),
        };
      case MessageType.refuse:
        this.name = 'refuse';
        return { type: 'refuse', code: this.text('code'), message: this.text('message') };
      case MessageType.batch: {
        this.name = 'batch';
        const batch: Batch = { type: 'batch', firstSeq: this.int('firstSeq', 1), count: this.int('count', 1), payload: this.bytes('payload'), token: this.int('token') };
        if (!Number.isSafeInteger(batch.firstSeq + batch.count)) this.fail('firstSeq + count overflows');
        return batch;
      }
      case MessageType.ack:
        this.name = 'ack';
        return { type: 'ack', seq: this.int('seq'), replayedSeq: this.int('replayedSeq'), token: this.int('token') };
      case MessageType.heartbeat: {
        this.name = 'heartbeat';
        const sentMs = this.ms('sentMs');
        const echoMs = this.tuple[this.index] === null ? (this.index++, null) : this.ms('echoMs');
        return { type: 'heartbeat', sentMs, echoMs, heldMs: this.ms('heldMs') };
      }
      case MessageType.bye:
        this.name = 'bye';
        return { type: 'bye', reason: this.text('reason') };
      case MessageType.released:
        this.name = 'released';
        return { type: 'released', seq: this.int('seq') };
      case MessageType.checkpoint:
        this.name = 'checkpoint';
        return { type: 'checkpoint', offset: this.int('offset'), chunk: this.bytes('chunk') };
      case MessageType.files:
        this.name = 'files';
        return { type: 'files', offset: this.int('offset'), total: this.int('total'), digest: this.bytes('digest', FILES_DIGEST_BYTES), chunk: this.bytes('chunk') };
      case MessageType.answers:
        this.name = 'answers';
        return { type: 'answers', answers: this.answers() };
      case MessageType.switchover: {
        this.name = 'switchover';
        const phase = this.text('phase') as SwitchoverPhase;
        if (!SWITCHOVER_PHASES.includes(phase)) this.fail(`phase ${shown(phase)} is not one of ${SWITCHOVER_PHASES.join(', ')}`);
        return { type: 'switchover', phase, seq: this.int('seq'), reason: this.text('reason') };
      }
      default:
        return this.fail(`unknown message type ${shown(this.tuple[0])}`);
    }
  }

  end(): void {
    if (this.index !== this.tuple.length) this.fail(`${this.tuple.length - this.index} extra fields`);
  }

  private fail(what: string): never {
    throw new ChannelProtocolError(`${this.name}: ${what}`, this.peer);
  }

  private next(field: string): unknown {
    if (this.index >= this.tuple.length) this.fail(`missing ${field}`);
    return this.tuple[this.index++];
  }

  private int(field: string, min = 0): number {
    const v = this.next(field);
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) this.fail(`${field} is not an integer >= ${min}`);
    return v;
  }

  private ms(field: string): number {
    const v = this.next(field);
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) this.fail(`${field} is not a time in ms`);
    return v;
  }

  private text(field: string, charsMax = TEXT_CHARS_MAX): string {
    const v = this.next(field);
    if (typeof v !== 'string' || v.length > charsMax) this.fail(`${field} is not a string of at most ${charsMax} chars`);
    return v;
  }

  private flag(field: string): boolean {
    const v = this.next(field);
    if (v !== 0 && v !== 1) this.fail(`${field} is not 0 or 1`);
    return v === 1;
  }

  private replica(): ReplicaState {
    const v = this.next('replica');
    if (v !== REPLICA.none && v !== REPLICA.have && v !== REPLICA.need) this.fail('replica is not 0, 1 or 2');
    return v;
  }

  private bytes(field: string, exactLength?: number): Uint8Array {
    const v = this.next(field);
    if (!(v instanceof Uint8Array)) this.fail(`${field} is not binary`);
    if (exactLength !== undefined && v.length !== exactLength) this.fail(`${field} is ${v.length} bytes, not ${exactLength}`);
    return v;
  }

  private forks(): Fork[] {
    const v = this.next('forks');
    const ok = Array.isArray(v) && v.length % 2 === 0 && v.length <= 2 * LINEAGE_FORKS_MAX && v.every((x) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0);
    if (!ok) this.fail(`forks is not a list of at most ${LINEAGE_FORKS_MAX} (epoch, seq) pairs`);
    const flat = v as number[];
    return Array.from({ length: flat.length / 2 }, (_, i) => ({ epoch: flat[2 * i]!, forkSeq: flat[2 * i + 1]! }));
  }

  private answers(): ReleasedAnswer[] {
    const v = this.next('answers');
    if (!Array.isArray(v) || v.length > ANSWERS_PER_FRAME_MAX) this.fail(`answers is not a list of at most ${ANSWERS_PER_FRAME_MAX}`);
    return v.map((a: unknown, i) => {
      const ok = Array.isArray(a) && a.length === 4 && Number.isSafeInteger(a[0]) && a[0] >= 1 && Number.isSafeInteger(a[1]) && a[1] >= 100 && a[1] <= 999 &&
        Array.isArray(a[2]) && a[2].length % 2 === 0 && a[2].every((x: unknown) => typeof x === 'string' && x.length <= ANSWER_HEADER_CHARS_MAX) && a[3] instanceof Uint8Array;
      if (!ok) this.fail(`answer ${i} is not [seq, status, headers, body]`);
      const [seq, status, flat, body] = a as [number, number, string[], Uint8Array];
      const headers: Record<string, string> = {};
      for (let k = 0; k < flat.length; k += 2) headers[flat[k]!] = flat[k + 1]!;
      return { seq, status, headers, body };
    });
  }

  private header(): LogHeader {
    const v = this.next('header');
    const h = v as Record<string, unknown>;
    const limits = (h?.limits ?? undefined) as Record<string, unknown> | undefined;
    const num = (x: unknown): boolean => typeof x === 'number' && Number.isFinite(x);
    const ok =
      typeof v === 'object' && v !== null && !Array.isArray(v) &&
      num(h.formatVersion) && typeof h.runtime === 'string' && typeof h.programHash === 'string' &&
      typeof h.programName === 'string' && num(h.createdAtMs) &&
      typeof limits === 'object' && limits !== null &&
      num(limits.memoryBytesMax) && num(limits.stackBytesMax) && num(limits.cpuPollsPerEventMax);
    if (!ok) this.fail('header is not a log header');
    return v as LogHeader;
  }
}
