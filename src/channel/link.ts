// One authenticated connection, as both sides see it after the handshake: seals every frame it
// sends and opens (verifies, then decodes) every frame it receives, sends a heartbeat every
// heartbeatIntervalMs, measures RTT from echoed heartbeats, and watches for silence.

import { performance } from 'node:perf_hooks';
import { WebSocket } from 'ws';
import { onCpuSlice } from '../sandbox/cpu-slices.js';
import { FailureDetector } from './failure-detector.js';
import type { FrameSession } from './frame-auth.js';
import { decodeMessage, encodeMessage, type ChannelMessage, type Heartbeat } from './messages.js';

export interface LinkOptions {
  heartbeatIntervalMs: number;
  failureTimeoutMs: number;
  onSilent: () => void;
  /** This connection's session keys (from the handshake): every frame is sealed and checked. */
  session: FrameSession;
  /** host:port or URL of the other side, for error messages. */
  peer: string;
}

export class Link {
  bytesSent = 0;
  bytesReceived = 0;
  /** Sealed frames each way (heartbeats included): what the channel's per-frame costs scale with. */
  framesSent = 0;
  framesReceived = 0;
  /** Latest round trip measured from a heartbeat echo; null until the first echo. */
  rttMs: number | null = null;
  /**
   * The newest of our own heartbeat send times (performance.now() of this process) that the peer
   * has echoed, or null before the first echo: the peer had heard from us at that moment, so it
   * cannot declare us failed before it plus its failure timeout (the lease). Only authenticated
   * frames count, so a man in the middle cannot move it forward.
   */
  peerEchoedMs: number | null = null;
  private readonly detector: FailureDetector;
  private readonly session: FrameSession;
  private readonly peer: string;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private readonly heartbeatIntervalMs: number;
  private lastBeatMs = 0;
  /** Unsubscribes from the guest's CPU slices (a long guest event beats from inside them). */
  private readonly stopSliceBeats: () => void;
  private peerSentMs: number | null = null;
  private peerHeardAtMs = 0;

  constructor(
    readonly ws: WebSocket,
    options: LinkOptions,
  ) {
    this.session = options.session;
    this.peer = options.peer;
    this.detector = new FailureDetector(options.failureTimeoutMs, options.onSilent);
    this.heartbeatIntervalMs = options.heartbeatIntervalMs;
    this.heartbeatTimer = setInterval(() => this.heartbeat(), options.heartbeatIntervalMs);
    this.stopSliceBeats = onCpuSlice(() => this.beatIfDue());
    this.heartbeat(); // an early echo gives an RTT at once
  }

  /** Returns false when the socket is no longer open (the close handler does the rest). */
  send(message: ChannelMessage, onSent?: (err?: Error) => void): boolean {
    return this.sendEncoded(encodeMessage(message), onSent);
  }

  /** Sends an already encoded message (so a caller that checked its size does not encode twice). */
  sendEncoded(message: Uint8Array, onSent?: (err?: Error) => void): boolean {
    if (this.ws.readyState !== WebSocket.OPEN) return false;
    const frame = this.session.sealer.seal(message);
    this.bytesSent += frame.length;
    this.framesSent++;
    this.ws.send(frame, onSent);
    return true;
  }

  /**
   * Every frame from the peer passes here: checked (ChannelForgedError), decoded
   * (ChannelProtocolError), and only then a sign of life. Throws; the caller drops the connection.
   */
  open(frame: Uint8Array): ChannelMessage {
    const message = decodeMessage(this.session.opener.open(frame), this.peer);
    this.received(message, frame.length);
    return message;
  }

  /** Tell the peer why (a sealed 'refuse' frame, and the code as the close reason), then close. */
  refuseAndClose(code: string, message: string): void {
    closeAfterRefusal(this.ws, code, this.session.sealer.seal(encodeMessage({ type: 'refuse', code, message })));
  }

  /** Test hook: simulate a hung peer by no longer sending heartbeats (other frames still flow). */
  pauseHeartbeats(): void {
    clearInterval(this.heartbeatTimer);
    this.stopSliceBeats();
  }

  stop(): void {
    clearInterval(this.heartbeatTimer);
    this.stopSliceBeats();
    this.detector.stop();
  }

  /** From inside a long guest event: the timer cannot fire, so beat here when one is due. */
  private beatIfDue(): void {
    if (performance.now() - this.lastBeatMs >= this.heartbeatIntervalMs) this.heartbeat();
  }

  /** Any authenticated frame is a sign of life; heartbeats also carry the RTT and lease echo. */
  private received(message: ChannelMessage, frameBytes: number): void {
    this.bytesReceived += frameBytes;
    this.framesReceived++;
    this.detector.touch();
    if (message.type !== 'heartbeat') return;
    const now = performance.now();
    this.peerSentMs = message.sentMs;
    this.peerHeardAtMs = now;
    if (message.echoMs === null) return;
    // The echo is our own clock: subtract how long the peer held it before sending.
    this.rttMs = Math.max(0, now - message.echoMs - message.heldMs);
    // Never in the future of our clock: a buggy peer must not extend a lease past now.
    const echoed = Math.min(message.echoMs, now);
    if (this.peerEchoedMs === null || echoed > this.peerEchoedMs) this.peerEchoedMs = echoed;
  }

  private heartbeat(): void {
    const now = performance.now();
    this.lastBeatMs = now;
    const beat: Heartbeat = {
      type: 'heartbeat',
      sentMs: now,
      echoMs: this.peerSentMs,
      heldMs: this.peerSentMs === null ? 0 : now - this.peerHeardAtMs,
    };
    this.send(beat);
  }
}

/** How long a refused peer gets to read the refusal and close before we drop the socket. */
const REFUSE_LINGER_MS = 500;

/** Before the handshake completes: tell the peer why (a plain 'refuse' frame and the close reason), then close. */
export function refuseAndClose(ws: WebSocket, code: string, message: string): void {
  closeAfterRefusal(ws, code, encodeMessage({ type: 'refuse', code, message }));
}

function closeAfterRefusal(ws: WebSocket, code: string, frame: Uint8Array): void {
  ws.on('error', () => undefined); // the peer may be gone already; that must not crash us
  if (ws.readyState !== WebSocket.OPEN) {
    ws.terminate();
    return;
  }
  ws.send(frame, () => ws.close(CLOSE_REFUSED, code.slice(0, 120)));
  setTimeout(() => ws.terminate(), REFUSE_LINGER_MS).unref();
}

/** WebSocket close code (private range) used after a 'refuse' frame. */
export const CLOSE_REFUSED = 4000;
/** ws's close code when a frame exceeded maxPayload. */
export const CLOSE_MESSAGE_TOO_BIG = 1009;

/** ws hands us Buffer, ArrayBuffer or Buffer[] depending on binaryType and fragmentation. */
export function frameBytes(data: Buffer | ArrayBuffer | Buffer[]): Uint8Array {
  if (Array.isArray(data)) return Buffer.concat(data);
  return data instanceof ArrayBuffer ? new Uint8Array(data) : data;
}
