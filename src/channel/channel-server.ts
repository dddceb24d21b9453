// The primary's end of the logging channel: a WebSocket server that admits one authenticated
// secondary at a time, streams opaque log batches to it, and tracks its acks, RTT and silence.

import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { assert } from '../assert.js';
import type { LogHeader } from '../log/entries.js';
import {
  ChannelAuthError, ChannelAuthTimeoutError, ChannelBusyError, ChannelError, ChannelFrameTooLargeError,
  ChannelIncompatibleError, ChannelProtocolError,
} from './errors.js';
import { frameBytes, Link, refuseAndClose } from './link.js';
import { CHANNEL_PROTOCOL_VERSION, decodeMessage, encodeMessage, type Auth, type ChannelMessage } from './messages.js';
import { newNonce, type ChannelSecret } from './secret.js';
import { listenError } from '../errors.js';

export const FRAME_BYTES_MAX_DEFAULT = 16 * 1024 * 1024; // a batch of large request bodies fits; garbage cannot exhaust memory
export const AUTH_TIMEOUT_MS_DEFAULT = 2000; // a real peer answers in one round trip
export const HEARTBEAT_INTERVAL_MS_DEFAULT = 100; // several beats fit in one failure timeout
export const FAILURE_TIMEOUT_MS_DEFAULT = 1000; // failover time is at least this
export const HANDSHAKES_MAX_DEFAULT = 8; // unauthenticated connections held at once

export interface PeerInfo {
  /** host:port of the secondary. */
  address: string;
  /** Highest seq the secondary already holds: stream from haveSeq + 1. */
  haveSeq: number;
  header: LogHeader;
}

export type DetachReason = 'closed' | 'silent' | 'bye' | 'refused-by-peer' | 'protocol' | 'dropped' | 'server-closing';

export interface ChannelServerOptions {
  host: string;
  /** 0 picks a free port (see listen()). */
  port: number;
  secret: ChannelSecret;
  header: LogHeader;
  /** Throws (e.g. LogFormatError naming the mismatch) when the secondary's header is not replicable. */
  compatible: (mine: LogHeader, theirs: LogHeader) => void;
  /** Sent in 'welcome' so a secondary knows which primary generation it follows. */
  epoch?: number;
  frameBytesMax?: number;
  authTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  failureTimeoutMs?: number;
  handshakesMax?: number;
  /** Our last entry, sent in the welcome: the secondary is caught up once it holds it. */
  lastSeq?: () => number;
  /** Refuses a would-be secondary (after it proved the secret) with the error returned, e.g. a retryable not-ready. */
  canAttach?: (peer: PeerInfo) => ChannelError | undefined;
  onAttach?: (peer: PeerInfo) => void;
  /** seq = highest contiguous seq the secondary has received; only called when it grows. */
  onAck?: (seq: number) => void;
  onDetach?: (reason: DetachReason, detail: string) => void;
  /** No frame from the attached secondary for failureTimeoutMs; it has been dropped (onDetach follows). */
  onPeerSilent?: () => void;
  /** A would-be secondary was turned away; the server keeps running. */
  onRefused?: (error: ChannelError) => void;
}

export interface ChannelServerStats {
  peer: string | null;
  rttMs: number | null;
  /** All frames sent to secondaries since listen(). */
  bytesSent: number;
  lastAckSeq: number;
  unackedBytes: number;
}

interface Attachment {
  ws: WebSocket;
  link: Link;
  peer: PeerInfo;
  nextSendSeq: number;
  lastAckSeq: number;
  /** One record per batch sent and not yet acked, oldest first. */
  inflight: Array<{ lastSeq: number; bytes: number }>;
  unackedBytes: number;
}

export class ChannelServer {
  private readonly opts: Required<Omit<ChannelServerOptions, `on${string}` | 'lastSeq' | 'canAttach'>> & ChannelServerOptions;
  private http: Server | undefined;
  private wss: WebSocketServer | undefined;
  private attached: Attachment | null = null;
  private readonly handshakes = new Set<WebSocket>();
  private bytesSentDetached = 0;
  private lastAckSeq = 0;

  constructor(options: ChannelServerOptions) {
    this.opts = {
      epoch: 0,
      frameBytesMax: FRAME_BYTES_MAX_DEFAULT,
      authTimeoutMs: AUTH_TIMEOUT_MS_DEFAULT,
      heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS_DEFAULT,
      failureTimeoutMs: FAILURE_TIMEOUT_MS_DEFAULT,
      handshakesMax: HANDSHAKES_MAX_DEFAULT,
      ...options,
    };
    assert(this.opts.failureTimeoutMs > this.opts.heartbeatIntervalMs, 'failureTimeoutMs must exceed heartbeatIntervalMs');
  }

  async listen(): Promise<{ port: number }> {
    assert(!this.http, 'ChannelServer.listen called twice');
    const http = createServer((req, res) => {
      this.refused(new ChannelProtocolError('plain HTTP request instead of a WebSocket upgrade', address(req.socket)));
      res.writeHead(426, { 'content-type': 'text/plain' }).end('Lockstep logging channel: WebSocket only\n');
    });
    // Bytes that are not even HTTP: refuse, keep serving.
    http.on('clientError', (err, socket: Socket) => {
      this.refused(new ChannelProtocolError(`not an HTTP/WebSocket handshake (${(err as NodeJS.ErrnoException).code ?? err.message})`, address(socket)));
      socket.destroy();
    });
    const wss = new WebSocketServer({ server: http, perMessageDeflate: false, maxPayload: this.opts.frameBytesMax });
    wss.on('connection', (ws, req) => this.accept(ws, req));
    // ws re-emits the HTTP server's errors; a failed listen is reported by listen()'s promise below.
    wss.on('error', () => {});
    this.http = http;
    this.wss = wss;
    await new Promise<void>((resolve, reject) => {
      const onError = (error: Error) => reject(listenError(error, 'logging channel', this.opts.host, this.opts.port));
      http.once('error', onError);
      http.listen(this.opts.port, this.opts.host, () => {
        http.off('error', onError);
        resolve();
      });
    });
    const bound = http.address();
    assert(bound !== null && typeof bound === 'object', 'listening server has an address');
    return { port: bound.port };
  }

  /** Send one encoded log batch. Returns false (nothing sent) when no secondary is attached. */
  sendBatch(firstSeq: number, count: number, payload: Uint8Array): boolean {
    const a = this.attached;
    if (!a) return false;
    assert(count >= 1 && firstSeq === a.nextSendSeq, `batches are contiguous: expected #${a.nextSendSeq}, got #${firstSeq}`);
    const message: ChannelMessage = { type: 'batch', firstSeq, count, payload };
    // The frame limit binds the sender too: a bigger frame would be refused by the secondary.
    const bytes = encodeMessage(message).length;
    if (bytes > this.opts.frameBytesMax) throw new ChannelFrameTooLargeError(bytes, this.opts.frameBytesMax, a.peer.address);
    if (!a.link.send(message)) return false;
    a.nextSendSeq += count;
    a.inflight.push({ lastSeq: firstSeq + count - 1, bytes: payload.length });
    a.unackedBytes += payload.length;
    return true;
  }

  /** Planned stop: tell the secondary not to go live, then close. Resolves once the frame is flushed. */
  async sendBye(reason: string): Promise<void> {
    const a = this.attached;
    if (!a) return;
    await new Promise<void>((resolve) => {
      if (!a.link.send({ type: 'bye', reason }, () => resolve())) resolve();
    });
    this.detach(a, 'bye', `bye sent: ${reason}`);
    a.ws.close(1000, 'bye');
  }

  /** Tells the secondary which outputs have certainly left (best effort; false if none attached). */
  sendReleased(seq: number): boolean {
    return this.attached ? this.attached.link.send({ type: 'released', seq }) : false;
  }

  /** After winning a claim the pair is in a new epoch; later secondaries are welcomed into it. */
  setEpoch(epoch: number): void {
    this.opts.epoch = epoch;
  }

  /** Drop the attached secondary (e.g. the primary goes on alone). */
  dropSecondary(detail: string): void {
    if (this.attached) this.detach(this.attached, 'dropped', detail);
  }

  /** Payload bytes sent but not yet acked: the primary admits no new events above its bound. */
  get unackedBytes(): number {
    return this.attached?.unackedBytes ?? 0;
  }

  get stats(): ChannelServerStats {
    const a = this.attached;
    return {
      peer: a?.peer.address ?? null,
      rttMs: a?.link.rttMs ?? null,
      bytesSent: this.bytesSentDetached + (a?.link.bytesSent ?? 0),
      lastAckSeq: this.lastAckSeq,
      unackedBytes: this.unackedBytes,
    };
  }

  /** See Link.peerEchoedMs: the base of the primary's lease, or null with no secondary (or no echo yet). */
  get peerEchoedMs(): number | null {
    return this.attached?.link.peerEchoedMs ?? null;
  }

  /** Test hook: the primary stops heartbeating, as if hung. */
  pauseHeartbeats(): void {
    this.attached?.link.pauseHeartbeats();
  }

  async close(): Promise<void> {
    if (this.attached) this.detach(this.attached, 'server-closing', 'server closed');
    for (const ws of this.handshakes) ws.terminate();
    this.handshakes.clear();
    this.wss?.close();
    const http = this.http;
    if (http) {
      const closed = new Promise<void>((resolve) => http.close(() => resolve()));
      http.closeAllConnections(); // refused peers still lingering must not hold close() up
      await closed;
    }
    this.http = undefined;
  }

  private accept(ws: WebSocket, req: IncomingMessage): void {
    const peer = address(req.socket);
    req.socket.setNoDelay(true); // acks and small batches must not wait for Nagle
    if (this.handshakes.size >= this.opts.handshakesMax) {
      return this.refuse(ws, new ChannelProtocolError(`too many concurrent handshakes (max ${this.opts.handshakesMax})`, peer));
    }
    this.handshakes.add(ws);
    const serverNonce = newNonce();
    const timer = setTimeout(() => this.refuse(ws, new ChannelAuthTimeoutError(this.opts.authTimeoutMs, peer)), this.opts.authTimeoutMs);
    let attachment: Attachment | null = null;

    ws.on('message', (data, isBinary) => {
      if (!this.handshakes.has(ws) && !attachment) return; // already refused; ignore stragglers
      const bytes = frameBytes(data);
      let message: ChannelMessage;
      try {
        if (!isBinary) throw new ChannelProtocolError('a text frame (the channel is binary)', peer);
        message = decodeMessage(bytes, peer);
      } catch (err) {
        if (!(err instanceof ChannelError)) throw err;
        return attachment ? this.violation(attachment, err) : this.refuse(ws, err);
      }
      if (attachment) return this.onAttachedMessage(attachment, message, bytes.length);
      clearTimeout(timer);
      if (message.type !== 'auth') return this.refuse(ws, new ChannelProtocolError(`expected auth, got ${message.type}`, peer));
      attachment = this.authenticate(ws, peer, serverNonce, message);
    });
    ws.on('error', (err: Error & { code?: string }) => {
      // ws has already started closing; the peer sees close code 1009 / 1002 instead of a refuse frame.
      const error = err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH'
        ? new ChannelFrameTooLargeError(undefined, this.opts.frameBytesMax, peer)
        : new ChannelProtocolError(`bad WebSocket frame (${err.code ?? err.message})`, peer);
      if (attachment) this.detach(attachment, 'protocol', error.message);
      else if (this.handshakes.delete(ws)) this.refused(error);
    });
    ws.on('close', () => {
      clearTimeout(timer);
      this.handshakes.delete(ws);
      if (attachment) this.detach(attachment, 'closed', 'connection closed');
    });
    ws.send(encodeMessage({ type: 'hello', protocolVersion: CHANNEL_PROTOCOL_VERSION, serverNonce }));
  }

  /** Checks in the order that leaks least: proof first, so strangers learn nothing about us. */
  private authenticate(ws: WebSocket, peer: string, serverNonce: Uint8Array, auth: Auth): Attachment | null {
    if (!this.opts.secret.verify(auth.proof, serverNonce, auth.clientNonce, 'client')) {
      this.refuse(ws, new ChannelAuthError('its proof does not match our secret', peer));
      return null;
    }
    try {
      this.opts.compatible(this.opts.header, auth.header);
    } catch (err) {
      this.refuse(ws, new ChannelIncompatibleError((err as Error).message, peer));
      return null;
    }
    if (this.attached) {
      this.refuse(ws, new ChannelBusyError(peer));
      return null;
    }
    const info: PeerInfo = { address: peer, haveSeq: auth.haveSeq, header: auth.header };
    const refusal = this.opts.canAttach?.(info);
    if (refusal) {
      this.refuse(ws, refusal);
      return null;
    }
    this.handshakes.delete(ws);
    // Welcome goes first: the Link starts with a heartbeat, which the secondary only accepts after it.
    ws.send(encodeMessage({
      type: 'welcome',
      proof: this.opts.secret.proof(serverNonce, auth.clientNonce, 'server'),
      header: this.opts.header,
      startSeq: auth.haveSeq + 1,
      epoch: this.opts.epoch,
      lastSeq: this.opts.lastSeq?.() ?? auth.haveSeq,
    }));
    const link = new Link(ws, {
      heartbeatIntervalMs: this.opts.heartbeatIntervalMs,
      failureTimeoutMs: this.opts.failureTimeoutMs,
      onSilent: () => {
        if (this.attached !== a) return;
        this.opts.onPeerSilent?.();
        this.detach(a, 'silent', `no frame for ${this.opts.failureTimeoutMs} ms`);
      },
    });
    const a: Attachment = { ws, link, peer: info, nextSendSeq: auth.haveSeq + 1, lastAckSeq: auth.haveSeq, inflight: [], unackedBytes: 0 };
    this.attached = a;
    this.lastAckSeq = auth.haveSeq;
    this.opts.onAttach?.(info);
    return a;
  }

  private onAttachedMessage(a: Attachment, message: ChannelMessage, bytes: number): void {
    if (this.attached !== a) return;
    a.link.received(message, bytes);
    switch (message.type) {
      case 'heartbeat':
        return;
      case 'ack':
        return this.onAck(a, message.seq);
      case 'bye':
        this.detach(a, 'bye', message.reason);
        a.ws.close(1000, 'bye');
        return;
      case 'refuse':
        this.detach(a, 'refused-by-peer', `${message.code}: ${message.message}`);
        return;
      default:
        return this.violation(a, new ChannelProtocolError(`unexpected ${message.type} from a secondary`, a.peer.address));
    }
  }

  private onAck(a: Attachment, seq: number): void {
    if (seq < a.lastAckSeq || seq >= a.nextSendSeq) {
      return this.violation(a, new ChannelProtocolError(`ack #${seq} outside #${a.lastAckSeq}..#${a.nextSendSeq - 1}`, a.peer.address));
    }
    if (seq === a.lastAckSeq) return;
    a.lastAckSeq = seq;
    this.lastAckSeq = seq;
    while (a.inflight.length > 0 && a.inflight[0]!.lastSeq <= seq) a.unackedBytes -= a.inflight.shift()!.bytes;
    this.opts.onAck?.(seq);
  }

  private violation(a: Attachment, error: ChannelError): void {
    this.detach(a, 'protocol', error.message);
    refuseAndClose(a.ws, error.code, error.message);
  }

  /** Idempotent; takes effect at once so a new secondary can attach and sendBatch stops. */
  private detach(a: Attachment, reason: DetachReason, detail: string): void {
    if (this.attached !== a) return;
    this.attached = null;
    a.link.stop();
    this.bytesSentDetached += a.link.bytesSent;
    if (reason !== 'bye' && reason !== 'protocol') a.ws.terminate();
    this.opts.onDetach?.(reason, detail);
  }

  private refuse(ws: WebSocket, error: ChannelError): void {
    this.handshakes.delete(ws);
    refuseAndClose(ws, error.code, error.message);
    this.refused(error);
  }

  private refused(error: ChannelError): void {
    this.opts.onRefused?.(error);
  }
}

function address(socket: Socket): string {
  const host = socket.remoteAddress ?? '?';
  return `${host.includes(':') ? `[${host}]` : host}:${socket.remotePort ?? '?'}`;
}
