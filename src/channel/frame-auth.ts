// Authenticates every frame after the handshake. Each connection gets two session keys (one per
// direction) derived from the shared secret and the handshake transcript; every frame carries a
// per-direction counter and a truncated HMAC-SHA256 tag, so injected, altered, replayed, reordered
// and dropped frames are all refused before anything in them is used.
//
// Wire: frame = message | counter (8 bytes, big-endian) | tag (16 bytes)
//       tag   = HMAC-SHA256(key of this direction, direction byte | counter | message)[0..16)

import { createHash, createHmac, timingSafeEqual, type KeyObject } from 'node:crypto';
import { ChannelForgedError } from './errors.js';
import type { ChannelSecret } from './secret.js';

/** 128 bits: a forger must guess it outright, the connection drops at the first miss. */
export const TAG_BYTES = 16;
export const COUNTER_BYTES = 8;
/** What sealing adds to every frame. */
export const TRAILER_BYTES = COUNTER_BYTES + TAG_BYTES;

/** Which way a frame travels; the primary runs the channel server, the secondary the client. */
export type Direction = 'to-secondary' | 'to-primary';
/** Which end of the link this process is. */
export type LinkSide = 'primary' | 'secondary';

function directionByte(direction: Direction): Uint8Array {
  switch (direction) {
    case 'to-secondary':
      return Uint8Array.of(1);
    case 'to-primary':
      return Uint8Array.of(2);
    default: {
      const never: never = direction;
      throw new Error(`unknown direction ${String(never)}`);
    }
  }
}

/**
 * SHA-256 over the three handshake frames as sent/received (each length-prefixed). A man in the
 * middle who alters any of them (a haveSeq, a startSeq, an epoch, a header) leaves the two sides
 * with different keys, so the first sealed frame is refused.
 */
export function transcriptHash(hello: Uint8Array, auth: Uint8Array, welcome: Uint8Array): Buffer {
  const hash = createHash('sha256').update('lockstep channel transcript');
  for (const frame of [hello, auth, welcome]) {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(frame.length);
    hash.update(length).update(frame);
  }
  return hash.digest();
}

/** The two ends of one authenticated connection: seal what we send, open what we receive. */
export interface FrameSession {
  sealer: FrameSealer;
  opener: FrameOpener;
}

/** Derives both directions' keys and hands this side the sealer and opener it needs. */
export function openSession(secret: ChannelSecret, transcript: Uint8Array, side: LinkSide, peer: string): FrameSession {
  const sends: Direction = side === 'primary' ? 'to-secondary' : 'to-primary';
  const receives: Direction = side === 'primary' ? 'to-primary' : 'to-secondary';
  return {
    sealer: new FrameSealer(secret.sessionKey(transcript, keyLabel(sends)), sends),
    opener: new FrameOpener(secret.sessionKey(transcript, keyLabel(receives)), receives, peer),
  };
}

function keyLabel(direction: Direction): string {
  return `lockstep channel v2 ${direction}`;
}

function frameTag(key: KeyObject, direction: Direction, counter: Uint8Array, message: Uint8Array): Buffer {
  return createHmac('sha256', key).update(directionByte(direction)).update(counter).update(message).digest();
}

function writeCounter(counter: number): Buffer {
  const bytes = Buffer.alloc(COUNTER_BYTES);
  bytes.writeUInt32BE(Math.floor(counter / 2 ** 32), 0);
  bytes.writeUInt32BE(counter >>> 0, 4);
  return bytes;
}

function readCounter(bytes: Uint8Array): number {
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return view.readUInt32BE(0) * 2 ** 32 + view.readUInt32BE(4);
}

/** Seals outgoing frames; the counter starts at 0 and rises by one per frame. */
export class FrameSealer {
  private counter = 0;

  constructor(
    private readonly key: KeyObject,
    readonly direction: Direction,
  ) {}

  /** Frames sealed so far (the counter the next one gets). */
  get sealed(): number {
    return this.counter;
  }

  seal(message: Uint8Array): Buffer {
    const counter = writeCounter(this.counter++);
    const tag = frameTag(this.key, this.direction, counter, message);
    return Buffer.concat([message, counter, tag.subarray(0, TAG_BYTES)], message.length + TRAILER_BYTES);
  }
}

/** Opens incoming frames: the tag must verify and the counter must be exactly the next one. */
export class FrameOpener {
  private expected = 0;

  constructor(
    private readonly key: KeyObject,
    readonly direction: Direction,
    private readonly peer: string,
  ) {}

  /** Frames accepted so far (the counter the next one must carry). */
  get opened(): number {
    return this.expected;
  }

  /** Returns the message bytes (a view, no copy), or throws ChannelForgedError. */
  open(frame: Uint8Array): Uint8Array {
    if (frame.length < TRAILER_BYTES) throw new ChannelForgedError(`a ${frame.length}-byte frame is too short to carry a counter and tag`, this.peer);
    const split = frame.length - TRAILER_BYTES;
    const message = frame.subarray(0, split);
    const counterBytes = frame.subarray(split, split + COUNTER_BYTES);
    const tag = frame.subarray(split + COUNTER_BYTES);
    const expectedTag = frameTag(this.key, this.direction, counterBytes, message).subarray(0, TAG_BYTES);
    // Constant time, so a forger cannot find the tag byte by byte.
    if (!timingSafeEqual(tag, expectedTag)) {
      throw new ChannelForgedError(`a ${frame.length}-byte frame's tag does not verify under this connection's key (not sent by the peer, or altered)`, this.peer);
    }
    const counter = readCounter(counterBytes);
    if (counter !== this.expected) {
      const what = counter < this.expected ? `frame #${counter} again (a replay)` : `frame #${counter} (frames dropped or reordered)`;
      throw new ChannelForgedError(`expected frame #${this.expected} but got ${what}`, this.peer);
    }
    this.expected++;
    return message;
  }
}
