// The primary's end of the logging channel: a WebSocket server that admits one authenticated
// secondary at a time, streams opaque log batches to it, and tracks its acks, RTT and silence.
// Every frame after the handshake is sealed and checked both ways (frame-auth.ts).

import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { assert } from '../assert.js';
import type { LogHeader } from '../log/entries.js';
import {
  ChannelAuthError, ChannelAuthTimeoutError, ChannelBusyError, ChannelError, ChannelForgedError, ChannelFrameTooLargeError,
  ChannelIncompatibleError, ChannelProtocolError, ChannelStaleTokenError,
} from './errors.js';
import { openSession, TRAILER_BYTES, transcriptHash } from './frame-auth.js';
import { frameBytes, Link, refuseAndClose } from './link.js';
import { CHANNEL_PROTOCOL_VERSION, decodeMessage, encodeMessage, REPLICA, type Answers, type Auth, type ChannelMessage, type ReplicaState, type Switchover } from './messages.js';
import { filesDigest } from '../replication/files-archive.js';
import { newNonce, type ChannelSecret } from './secret.js';
import type { Fork } from '../replication/lineage.js';
import { listenError } from '../errors.js';

export const FRAME_BYTES_MAX_DEFAULT = 16 * 1024 * 1024; // a batch of large request bodies fits; garbage cannot exhaust memory
export const AUTH_TIMEOUT_MS_DEFAULT = 2000; // a real peer answers in one round trip
export const HEARTBEAT_INTERVAL_MS_DEFAULT = 50; // several beats fit in one failure timeout
/**
 * Failover time is at least this. Heartbeats go out from inside a long guest event too (its CPU
 * slices: src/sandbox/cpu-slices.ts), so what may hold a node's loop longer is only what is not the
 * guest: a checkpoint's copy (p99 ~13 ms), a major GC, a busy machine's scheduler.
 */
export const FAILURE_TIMEOUT_MS_DEFAULT = 300;
/** Unauthenticated connections held at once; when full, the oldest is closed (BUSY, retryable) for the newest. */
export const HANDSHAKES_MAX_DEFAULT = 8;
/** A checkpoint travels in frames of at most this many bytes, so heartbeats and other frames interleave. */
export const CHECKPOINT_CHUNK_BYTES = 256 * 1024;
/** Checkpoint bytes queued in the socket at most: the rest waits (flow control by the socket's own buffer). */
export const CHECKPOINT_WINDOW_BYTES = 1024 * 1024;
/** How often a checkpoint transfer waiting on a full socket buffer looks again. */
const CHECKPOINT_POLL_MS = 5;

/** A checkpoint a secondary is given instead of the log up to it: the state after entry #seq. */
export interface CheckpointOffer {
  seq: number;
  bytes: Uint8Array;
}

export interface PeerInfo {
  /** host:port of the secondary. */
  address: string;
  /** Highest seq the secondary already holds: stream from haveSeq + 1 (or from checkpointSeq + 1). */
  haveSeq: number;
  header: LogHeader;
  /** > 0: it is given the checkpoint of the state after this entry first, and replaces what it held by it. */
  checkpointSeq: number;
  /** Its name (the primary declares it a member of the epoch, so it may claim the next). */
  node: string;
  /** What it keeps of the guest's files (REPLICA). */
  replica: ReplicaState;
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
  /** Sent in 'welcome': where each epoch's log left its predecessor's, so a follower can tell whether it holds a prefix. */
  forks?: readonly Fork[];
  /** The fencing token of this primary's epoch: on the welcome, every batch and every ack. */
  token?: number;
  /**
   * The guest's files for a secondary with its own replica that starts afresh (it needs them, or is
   * given a checkpoint): packed after the attach decision, so they hold every write released before it.
   */
  filesFor?: (peer: PeerInfo) => Promise<Uint8Array>;
  /** A would-be secondary has followed a later token: this primary is deposed (it was refused). */
  onDeposed?: (theirToken: number) => void;
  frameBytesMax?: number;
  authTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  failureTimeoutMs?: number;
  handshakesMax?: number;
  /** Refuses a would-be secondary (after it proved the secret) with the error returned, e.g. a retryable not-ready. */
  canAttach?: (peer: PeerInfo) => ChannelError | undefined;
  /** A checkpoint to give an attaching secondary instead of the log before it (undefined: stream from haveSeq + 1). */
  checkpointFor?: (peer: PeerInfo) => CheckpointOffer | undefined;
  /** The checkpoint given to the attached secondary is all queued: batches may follow. */
  onCheckpointSent?: () => void;
  /**
   * The attach decision, taken in the same turn the welcome is sent: from here the primary gates its
   * outputs on this secondary, and it returns the entry the secondary must hold before it may go live
   * (the welcome's lastSeq). One decision, so nothing can be released between the two.
   */
  onAttach?: (peer: PeerInfo) => number;
  /** The secondary's first sealed frame confirmed the handshake: streaming may begin (nothing is streamed before). */
  onConfirmed?: (peer: PeerInfo) => void;
  /** seq = highest contiguous seq the secondary has received; called when it or the secondary's replayed seq grows. */
  onAck?: (seq: number) => void;
  /** The attached secondary is gone (from the welcome on, confirmed or not: it may believe it is attached). */
  onDetach?: (reason: DetachReason, detail: string) => void;
  /** No frame from the attached secondary for failureTimeoutMs; it has been dropped (onDetach follows). */
  onPeerSilent?: () => void;
  /** A would-be secondary was turned away; the server keeps running. */
  onRefused?: (error: ChannelError) => void;
  /** A frame from the attached secondary failed its tag or counter check; it is dropped (onDetach 'protocol' follows). */
  onFrameRefused?: (error: ChannelForgedError) => void;
  /** The role a peer proves the secret as: 'client' (a secondary; default) or 'shadow' (shadow-feed.ts), so neither attaches as the other. */
  peerProofRole?: 'client' | 'shadow';
  /** Takes a connection for another server (a shadow's, on /shadow: replication/shadow-feed.ts); true if it took it. */
  divert?: (ws: WebSocket, req: IncomingMessage) => boolean;
  /** A switchover frame from the attached peer (only a shadow sends them); without this option it is a protocol violation. */
  onSwitchover?: (message: Switchover) => void;
}

export interface ChannelServerStats {
  peer: string | null;
  rttMs: number | null;
  /** All frames sent to secondaries since listen(). */
  bytesSent: number;
  /** Sealed frames sent to and received from secondaries since listen() (heartbeats included). */
  framesSent: number;
  framesReceived: number;
  lastAckSeq: number;
  unackedBytes: number;
  /** Frames after a handshake refused as forged, replayed, reordered or dropped, since listen(). */
  framesRefused: number;
  /** Unauthenticated connections closed to make room in a full handshake table, since listen(). */
  handshakesEvicted: number;
  /** See `peerEchoedMs` on ChannelServer. */
  peerEchoedMs: number | null;
}

interface Attachment {
  ws: WebSocket;
  link: Link;
  peer: PeerInfo;
  nextSendSeq: number;
  lastAckSeq: number;
  /** The last entry the secondary reported replayed. */
  replayedSeq: number;
  /** The checkpoint being sent to it, and how much of it is queued; batches wait until all of it is. */
  checkpoint: { bytes: Uint8Array; sent: number } | undefined;
  /** The guest's files being sent after the checkpoint (packed while the handshake completes); batches wait for them too. */
  files: { packing: Promise<Uint8Array>; bytes?: Uint8Array; digest?: Uint8Array; sent: number } | undefined;
  /** The fencing token it was welcomed with: its acks must carry it. */
  token: number;
  /** One record per batch sent and not yet acked, oldest first. */
  inflight: Array<{ lastSeq: number; bytes: number }>;
  unackedBytes: number;
  /**
   * False until the first sealed frame from the secondary opens: only that proves both sides saw
   * the same handshake (an auth whose haveSeq was raised in transit would make acks up to it count).
   */
  confirmed: boolean;
}

export class ChannelServer {
  private readonly opts: Required<Omit<ChannelServerOptions, `on${string}` | 'canAttach' | 'checkpointFor' | 'filesFor' | 'divert'>> & ChannelServerOptions;
  private http: Server | undefined;
  private wss: WebSocketServer | undefined;
  private attached: Attachment | null = null;
  /** Connections between upgrade and auth, oldest first (a Map keeps insertion order), with their address. */
  private readonly handshakes = new Map<WebSocket, string>();
  private bytesSentDetached = 0;
  private readonly framesDetached = { sent: 0, received: 0 };
  private lastAckSeq = 0;
  private framesRefused = 0;
  private handshakesEvicted = 0;

  constructor(options: ChannelServerOptions) {
    this.opts = {
      epoch: 0,
      forks: [],
      token: 0,
      frameBytesMax: FRAME_BYTES_MAX_DEFAULT,
      authTimeoutMs: AUTH_TIMEOUT_MS_DEFAULT,
      heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS_DEFAULT,
      failureTimeoutMs: FAILURE_TIMEOUT_MS_DEFAULT,
      handshakesMax: HANDSHAKES_MAX_DEFAULT,
      peerProofRole: 'client',
      ...options,
    };
    assert(this.opts.failureTimeoutMs > this.opts.heartbeatIntervalMs, 'failureTimeoutMs must exceed heartbeatIntervalMs');
    assert(this.opts.handshakesMax >= 1, 'handshakesMax must be at least 1');
  }

  async listen(): Promise<{ port: number }> {
    assert(!this.http, 'ChannelServer.listen called twice');
    // A connection gets authTimeoutMs to get to the upgrade too: idle TCP connections that never
    // speak HTTP must not pile up (Node's defaults are 60 s for headers and no idle limit at all).
    const limit = this.opts.authTimeoutMs;
    const http = createServer({ headersTimeout: limit, requestTimeout: limit, connectionsCheckingInterval: Math.min(limit, 1000) }, (req, res) => {
      this.refused(new ChannelProtocolError('plain HTTP request instead of a WebSocket upgrade', address(req.socket)));
      res.writeHead(426, { 'content-type': 'text/plain' }).end('Lockstep logging channel: WebSocket only\n');
    });
    http.timeout = limit; // idle before the upgrade (an upgraded socket no longer has this timeout)
    http.on('timeout', (socket: Socket) => {
      this.refused(new ChannelAuthTimeoutError(limit, address(socket)));
      socket.destroy();
    });
    // Bytes that are not even HTTP: refuse, keep serving.
    http.on('clientError', (err, socket: Socket) => {
      const code = (err as NodeJS.ErrnoException).code;
      // Node's headers/request timeout reports here too: that is a peer too slow to upgrade, not garbage.
      this.refused(code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? new ChannelAuthTimeoutError(limit, address(socket))
        : new ChannelProtocolError(`not an HTTP/WebSocket handshake (${code ?? err.message})`, address(socket)));
      socket.destroy();
    });
    const wss = new WebSocketServer({ server: http, perMessageDeflate: false, maxPayload: this.opts.frameBytesMax });
    wss.on('connection', (ws, req) => (this.opts.divert?.(ws, req) ? undefined : this.accept(ws, req)));
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
    const a = this.live;
    if (!a || a.checkpoint || a.files) return false;
    assert(count >= 1 && firstSeq === a.nextSendSeq, `batches are contiguous: expected #${a.nextSendSeq}, got #${firstSeq}`);
    const message = encodeMessage({ type: 'batch', firstSeq, count, payload, token: a.token });
    // The frame limit binds the sender too: a bigger frame would be refused by the secondary.
    const bytes = message.length + TRAILER_BYTES;
    if (bytes > this.opts.frameBytesMax) throw new ChannelFrameTooLargeError(bytes, this.opts.frameBytesMax, a.peer.address);
    if (!a.link.sendEncoded(message)) return false;
    a.nextSendSeq += count;
    a.inflight.push({ lastSeq: firstSeq + count - 1, bytes: payload.length });
    a.unackedBytes += payload.length;
    return true;
  }

  /** Planned stop: tell the secondary not to go live, then close. Resolves once the frame is flushed. */
  async sendBye(reason: string): Promise<void> {
    const a = this.live;
    if (!a) return;
    await new Promise<void>((resolve) => {
      if (!a.link.send({ type: 'bye', reason }, () => resolve())) resolve();
    });
    this.detach(a, 'bye', `bye sent: ${reason}`);
    a.ws.close(1000, 'bye');
  }

  /** A connection accepted by another server's listener (see `divert`): handled as if it had come to this one. */
  adopt(ws: WebSocket, req: IncomingMessage): void {
    this.accept(ws, req);
  }

  /** Sends a message that is neither a batch nor a bye to the attached peer (false if none is attached, or it was not sent). */
  sendToPeer(message: Answers | Switchover): boolean {
    return this.live ? this.live.link.send(message) : false;
  }

  /** Tells the secondary which outputs have certainly left (best effort; false if none attached). */
  sendReleased(seq: number): boolean {
    return this.live ? this.live.link.send({ type: 'released', seq }) : false;
  }

  /** After winning a claim the pair is in a new epoch; later secondaries are welcomed into it. */
  setEpoch(epoch: number, forks: readonly Fork[], token: number): void {
    this.opts.epoch = epoch;
    this.opts.forks = forks;
    this.opts.token = token;
  }

  /** Drop the attached secondary (e.g. the primary goes on alone). */
  dropSecondary(detail: string): void {
    if (this.attached) this.detach(this.attached, 'dropped', detail);
  }

  /** The last entry the attached secondary reported replayed (null when none is attached). */
  get peerReplayedSeq(): number | null {
    return this.live?.replayedSeq ?? null;
  }

  /** Payload bytes sent but not yet acked: the primary admits no new events above its bound. */
  get unackedBytes(): number {
    return this.live?.unackedBytes ?? 0;
  }

  /**
   * The lease base: the newest of this process's own heartbeat sentMs values (performance.now())
   * that the attached secondary has echoed, in an authenticated frame, on this connection; null
   * when none is attached or it has echoed nothing yet. The secondary was alive after that instant.
   */
  get peerEchoedMs(): number | null {
    return this.live?.link.peerEchoedMs ?? null;
  }

  get stats(): ChannelServerStats {
    const a = this.live;
    return {
      peer: a?.peer.address ?? null,
      rttMs: a?.link.rttMs ?? null,
      bytesSent: this.bytesSentDetached + (this.attached?.link.bytesSent ?? 0),
      framesSent: this.framesDetached.sent + (this.attached?.link.framesSent ?? 0),
      framesReceived: this.framesDetached.received + (this.attached?.link.framesReceived ?? 0),
      lastAckSeq: this.lastAckSeq,
      unackedBytes: this.unackedBytes,
      framesRefused: this.framesRefused,
      handshakesEvicted: this.handshakesEvicted,
      peerEchoedMs: this.peerEchoedMs,
    };
  }

  /** Test hook: the primary stops heartbeating, as if hung. */
  pauseHeartbeats(): void {
    this.attached?.link.pauseHeartbeats();
  }

  /** The attached secondary once its first sealed frame confirmed the handshake; null before. */
  private get live(): Attachment | null {
    return this.attached?.confirmed ? this.attached : null;
  }

  async close(): Promise<void> {
    if (this.attached) this.detach(this.attached, 'server-closing', 'server closed');
    for (const ws of this.handshakes.keys()) ws.terminate();
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
    // Idle strangers must not lock the real secondary out: the newest connection always gets a turn.
    if (this.handshakes.size >= this.opts.handshakesMax) this.evictOldestHandshake();
    this.handshakes.set(ws, peer);
    const serverNonce = newNonce();
    const hello = encodeMessage({ type: 'hello', protocolVersion: CHANNEL_PROTOCOL_VERSION, serverNonce });
    const timer = setTimeout(() => {
      if (this.handshakes.has(ws)) this.refuse(ws, new ChannelAuthTimeoutError(this.opts.authTimeoutMs, peer));
    }, this.opts.authTimeoutMs);
    let attachment: Attachment | null = null;

    ws.on('message', (data, isBinary) => {
      if (!this.handshakes.has(ws) && !attachment) return; // already refused; ignore stragglers
      const bytes = frameBytes(data);
      if (attachment) return this.onAttachedFrame(attachment, bytes, isBinary);
      let message: ChannelMessage;
      try {
        if (!isBinary) throw new ChannelProtocolError('a text frame (the channel is binary)', peer);
        message = decodeMessage(bytes, peer);
      } catch (err) {
        if (!(err instanceof ChannelError)) throw err;
        return this.refuse(ws, err);
      }
      clearTimeout(timer);
      if (message.type !== 'auth') return this.refuse(ws, new ChannelProtocolError(`expected auth, got ${message.type}`, peer));
      attachment = this.authenticate(ws, peer, { hello, auth: bytes }, serverNonce, message);
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
    ws.send(hello);
  }

  /** The table is full: close its oldest connection with a retryable BUSY, so a real peer that was crowded out comes back. */
  private evictOldestHandshake(): void {
    const oldest = this.handshakes.entries().next();
    if (oldest.done) return;
    const [ws, peer] = oldest.value;
    this.handshakesEvicted++;
    this.refuse(ws, new ChannelBusyError(peer, 'handshakes-full'));
  }

  /** Checks in the order that leaks least: proof first, so strangers learn nothing about us. */
  private authenticate(ws: WebSocket, peer: string, sent: { hello: Uint8Array; auth: Uint8Array }, serverNonce: Uint8Array, auth: Auth): Attachment | null {
    if (!this.opts.secret.verify(auth.proof, serverNonce, auth.clientNonce, this.opts.peerProofRole)) {
      this.refuse(ws, new ChannelAuthError('its proof does not match our secret', peer));
      return null;
    }
    try {
      this.opts.compatible(this.opts.header, auth.header);
    } catch (err) {
      this.refuse(ws, new ChannelIncompatibleError((err as Error).message, peer));
      return null;
    }
    if (auth.token > this.opts.token) {
      this.refuse(ws, new ChannelStaleTokenError(this.opts.token, auth.token, peer));
      this.opts.onDeposed?.(auth.token);
      return null;
    }
    if (this.attached) {
      this.refuse(ws, new ChannelBusyError(peer));
      return null;
    }
    const info: PeerInfo = { address: peer, haveSeq: auth.haveSeq, header: auth.header, checkpointSeq: 0, node: auth.node, replica: auth.replica };
    const refusal = this.opts.canAttach?.(info);
    if (refusal) {
      this.refuse(ws, refusal);
      return null;
    }
    const checkpoint = this.opts.checkpointFor?.(info);
    if (checkpoint) {
      assert(checkpoint.seq >= auth.haveSeq && checkpoint.bytes.length > 0, 'a checkpoint offered is of a later state than the secondary holds');
      info.checkpointSeq = checkpoint.seq;
    }
    const startSeq = checkpoint ? checkpoint.seq + 1 : auth.haveSeq + 1;
    this.handshakes.delete(ws);
    const lastSeq = this.opts.onAttach?.(info) ?? auth.haveSeq;
    // After the attach decision: every write released before it is on disk, every later one waits for this secondary.
    const sendFiles = this.opts.filesFor !== undefined && (auth.replica === REPLICA.need || (auth.replica === REPLICA.have && checkpoint !== undefined));
    const files = sendFiles ? { packing: this.opts.filesFor!(info), sent: 0 } : undefined;
    files?.packing.catch(() => undefined); // reported when the transfer reaches it
    const welcome = encodeMessage({
      type: 'welcome',
      proof: this.opts.secret.proof(serverNonce, auth.clientNonce, 'server'),
      header: this.opts.header,
      startSeq,
      epoch: this.opts.epoch,
      lastSeq,
      checkpointBytes: checkpoint?.bytes.length ?? 0,
      forks: [...this.opts.forks],
      token: this.opts.token,
      files: files !== undefined,
    });
    // Welcome goes first: the Link starts with a heartbeat, which the secondary only accepts after it.
    ws.send(welcome);
    const link = new Link(ws, {
      heartbeatIntervalMs: this.opts.heartbeatIntervalMs,
      failureTimeoutMs: this.opts.failureTimeoutMs,
      session: openSession(this.opts.secret, transcriptHash(sent.hello, sent.auth, welcome), 'primary', peer),
      peer,
      onSilent: () => {
        if (this.attached !== a) return;
        if (a.confirmed) this.opts.onPeerSilent?.();
        this.detach(a, 'silent', `no frame for ${this.opts.failureTimeoutMs} ms`);
      },
    });
    // The place is taken now (a second secondary is BUSY), but nothing is reported or streamed
    // until the secondary's first sealed frame proves the handshake arrived as it was sent.
    const a: Attachment = {
      ws, link, peer: info, nextSendSeq: startSeq, lastAckSeq: auth.haveSeq, replayedSeq: checkpoint ? checkpoint.seq : Math.min(auth.replayedSeq, auth.haveSeq),
      checkpoint: checkpoint ? { bytes: checkpoint.bytes, sent: 0 } : undefined, files, token: this.opts.token, inflight: [], unackedBytes: 0, confirmed: false,
    };
    this.attached = a;
    return a;
  }

  private confirm(a: Attachment): void {
    a.confirmed = true;
    this.lastAckSeq = a.peer.haveSeq;
    this.opts.onConfirmed?.(a.peer);
    if (this.attached === a && (a.checkpoint || a.files)) this.sendCheckpoint(a);
  }

  /** Queues the checkpoint in chunks while the socket's buffer has room; then batches may follow. */
  private sendCheckpoint(a: Attachment): void {
    const transfer = a.checkpoint;
    if (this.attached !== a) return;
    if (transfer) {
      const done = this.sendChunks(a, transfer, (offset, chunk) => ({ type: 'checkpoint', offset, chunk }), () => this.sendCheckpoint(a));
      if (!done) return;
      a.checkpoint = undefined;
    }
    if (a.files) return void this.sendFiles(a);
    this.opts.onCheckpointSent?.();
  }

  /** The guest's files, once packed, in chunks like the checkpoint; then batches may follow. */
  private async sendFiles(a: Attachment): Promise<void> {
    const transfer = a.files!;
    if (!transfer.bytes) {
      try {
        transfer.bytes = await transfer.packing;
      } catch (error) {
        if (this.attached !== a) return;
        const message = error instanceof Error ? error.message : String(error);
        return this.violation(a, new ChannelProtocolError(`the primary cannot send its guest files: ${message}`, a.peer.address));
      }
      transfer.digest = filesDigest(transfer.bytes);
    }
    if (this.attached !== a) return;
    const { bytes, digest } = transfer as Required<typeof transfer>;
    const done = this.sendChunks(a, transfer as { bytes: Uint8Array; sent: number }, (offset, chunk) => ({ type: 'files', offset, total: bytes.length, digest, chunk }), () => void this.sendFiles(a));
    if (!done) return;
    a.files = undefined;
    this.opts.onCheckpointSent?.();
  }

  /** Queues a transfer's chunks while the socket's buffer has room; false if it must go on later (`again` is scheduled). */
  private sendChunks(a: Attachment, transfer: { bytes: Uint8Array; sent: number }, frame: (offset: number, chunk: Uint8Array) => ChannelMessage, again: () => void): boolean {
    // An empty transfer still sends one (empty) chunk, so the receiver learns its total and digest.
    do {
      if (a.ws.bufferedAmount >= CHECKPOINT_WINDOW_BYTES) {
        setTimeout(again, CHECKPOINT_POLL_MS);
        return false;
      }
      const chunk = transfer.bytes.subarray(transfer.sent, transfer.sent + Math.min(CHECKPOINT_CHUNK_BYTES, this.opts.frameBytesMax - 1024));
      if (!a.link.send(frame(transfer.sent, chunk))) return false;
      transfer.sent += chunk.length;
    } while (transfer.sent < transfer.bytes.length);
    return true;
  }

  /** A frame from the attached secondary: nothing in it is used unless its tag and counter check out. */
  private onAttachedFrame(a: Attachment, bytes: Uint8Array, isBinary: boolean): void {
    if (this.attached !== a) return;
    let message: ChannelMessage;
    try {
      if (!isBinary) throw new ChannelForgedError('a text frame (every frame after the handshake is sealed binary)', a.peer.address);
      message = a.link.open(bytes);
    } catch (err) {
      if (!(err instanceof ChannelError)) throw err;
      if (err instanceof ChannelForgedError) {
        this.framesRefused++;
        this.opts.onFrameRefused?.(err);
      }
      return this.violation(a, err);
    }
    if (!a.confirmed) {
      this.confirm(a);
      if (this.attached !== a) return; // onConfirmed dropped it
    }
    switch (message.type) {
      case 'heartbeat':
        return;
      case 'ack':
        if (message.token !== a.token) return this.violation(a, new ChannelProtocolError(`an ack with fencing token ${message.token}, not this connection's ${a.token}`, a.peer.address));
        return this.onAck(a, message.seq, message.replayedSeq);
      case 'bye':
        this.detach(a, 'bye', message.reason);
        a.ws.close(1000, 'bye');
        return;
      case 'refuse':
        this.detach(a, 'refused-by-peer', `${message.code}: ${message.message}`);
        return;
      case 'switchover':
        if (this.opts.onSwitchover) return this.opts.onSwitchover(message);
        return this.violation(a, new ChannelProtocolError('a switchover frame from a secondary that is not a shadow', a.peer.address));
      default:
        return this.violation(a, new ChannelProtocolError(`unexpected ${message.type} from a secondary`, a.peer.address));
    }
  }

  private onAck(a: Attachment, seq: number, replayedSeq: number): void {
    if (seq < a.lastAckSeq || seq >= a.nextSendSeq) {
      return this.violation(a, new ChannelProtocolError(`ack #${seq} outside #${a.lastAckSeq}..#${a.nextSendSeq - 1}`, a.peer.address));
    }
    if (replayedSeq > seq) return this.violation(a, new ChannelProtocolError(`ack #${seq} claims entries replayed up to #${replayedSeq}`, a.peer.address));
    const replayedGrew = replayedSeq > a.replayedSeq;
    if (replayedGrew) a.replayedSeq = replayedSeq;
    if (seq === a.lastAckSeq) {
      if (replayedGrew) this.opts.onAck?.(seq);
      return;
    }
    a.lastAckSeq = seq;
    this.lastAckSeq = seq;
    while (a.inflight.length > 0 && a.inflight[0]!.lastSeq <= seq) a.unackedBytes -= a.inflight.shift()!.bytes;
    this.opts.onAck?.(seq);
  }

  private violation(a: Attachment, error: ChannelError): void {
    const confirmed = a.confirmed;
    this.detach(a, 'protocol', `${error.message} [${error.code}]`);
    a.link.refuseAndClose(error.code, error.message);
    if (!confirmed) this.refused(error); // never attached as far as the caller knows: a refusal
  }

  /** Idempotent; takes effect at once so a new secondary can attach and sendBatch stops. */
  private detach(a: Attachment, reason: DetachReason, detail: string): void {
    if (this.attached !== a) return;
    this.attached = null;
    a.link.stop();
    this.bytesSentDetached += a.link.bytesSent;
    this.framesDetached.sent += a.link.framesSent;
    this.framesDetached.received += a.link.framesReceived;
    if (reason !== 'bye' && reason !== 'protocol') a.ws.terminate();
    this.opts.onDetach?.(reason, detail);
  }

  /** Before or during the handshake: a plain refuse frame (there is no session key yet). */
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
