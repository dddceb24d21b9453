// One authenticated connection, as both sides see it after the handshake: sends frames, sends a
// heartbeat every heartbeatIntervalMs, measures RTT from echoed heartbeats, and watches for silence.

import { performance } from 'node:perf_hooks';
import { WebSocket } from 'ws';
import { FailureDetector } from './failure-detector.js';
import { encodeMessage, type ChannelMessage, type Heartbeat } from './messages.js';

export interface LinkOptions {
  heartbeatIntervalMs: number;
  failureTimeoutMs: number;
  onSilent: () => void;
}

export class Link {
  bytesSent = 0;
  bytesReceived = 0;
  /** Latest round trip measured from a heartbeat echo; null until the first echo. */
  rttMs: number | null = null;
  /**
   * The newest of our own heartbeat send times (performance.now()) that the peer has echoed: the peer had
   * heard from us at that moment, so it cannot declare us failed before it plus its failure timeout (the lease).
   */
  peerEchoedMs: number | null = null;
  private readonly detector: FailureDetector;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private peerSentMs: number | null = null;
  private peerHeardAtMs = 0;

  constructor(
    readonly ws: WebSocket,
    options: LinkOptions,
  ) {
    this.detector = new FailureDetector(options.failureTimeoutMs, options.onSilent);
    this.heartbeatTimer = setInterval(() => this.heartbeat(), options.heartbeatIntervalMs);
    this.heartbeat(); // an early echo gives an RTT at once
  }

  /** Returns false when the socket is no longer open (the close handler does the rest). */
  send(message: ChannelMessage, onSent?: (err?: Error) => void): boolean {
    if (this.ws.readyState !== WebSocket.OPEN) return false;
    const bytes = encodeMessage(message);
    this.bytesSent += bytes.length;
    this.ws.send(bytes, onSent);
    return true;
  }

  /** Every decoded frame from the peer passes here: any frame is a sign of life. */
  received(message: ChannelMessage, frameBytes: number): void {
    this.bytesReceived += frameBytes;
    this.detector.touch();
    if (message.type !== 'heartbeat') return;
    const now = performance.now();
    this.peerSentMs = message.sentMs;
    this.peerHeardAtMs = now;
    // The echo is our own clock: subtract how long the peer held it before sending.
    if (message.echoMs !== null) {
      this.rttMs = Math.max(0, now - message.echoMs - message.heldMs);
      this.peerEchoedMs = Math.max(this.peerEchoedMs ?? 0, message.echoMs);
    }
  }

  /** Test hook: simulate a hung peer by no longer sending heartbeats (other frames still flow). */
  pauseHeartbeats(): void {
    clearInterval(this.heartbeatTimer);
  }

  stop(): void {
    clearInterval(this.heartbeatTimer);
    this.detector.stop();
  }

  private heartbeat(): void {
    const now = performance.now();
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

/** Tell the peer why (a 'refuse' frame, and the code again as the close reason), then close. */
export function refuseAndClose(ws: WebSocket, code: string, message: string): void {
  ws.on('error', () => undefined); // the peer may be gone already; that must not crash us
  if (ws.readyState !== WebSocket.OPEN) {
    ws.terminate();
    return;
  }
  ws.send(encodeMessage({ type: 'refuse', code, message }), () => ws.close(CLOSE_REFUSED, code.slice(0, 120)));
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
