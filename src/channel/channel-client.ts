// The secondary's end of the logging channel: connects to the primary (retrying until it is up),
// proves and checks the shared secret both ways, receives batches in seq order and acks on receipt.
// Every frame after the handshake is sealed and checked both ways (frame-auth.ts). Nothing
// unauthenticated ends protection: once attached, a lost connection, a forged frame or an unsealed
// refusal only makes it reconnect, and the primary is declared failed after failureTimeoutMs with
// no authenticated frame, across reconnects.

import { performance } from 'node:perf_hooks';
import { WebSocket } from 'ws';
import type { LogHeader } from '../log/entries.js';
import {
  ChannelAuthError, ChannelAuthTimeoutError, ChannelError, ChannelForgedError, ChannelFrameTooLargeError, ChannelIncompatibleError,
  ChannelNotReadyError, ChannelProtocolError, ChannelSeqError,
} from './errors.js';
import { openSession, transcriptHash } from './frame-auth.js';
import { AUTH_TIMEOUT_MS_DEFAULT, FAILURE_TIMEOUT_MS_DEFAULT, FRAME_BYTES_MAX_DEFAULT, HEARTBEAT_INTERVAL_MS_DEFAULT } from './channel-server.js';
import { frameBytes, Link, refuseAndClose } from './link.js';
import { CHANNEL_PROTOCOL_VERSION, decodeMessage, encodeMessage, REPLICA, type ChannelMessage, type FilesChunk, type ReleasedAnswer, type ReplicaState, type Switchover, type Welcome } from './messages.js';
import { filesDigest, REPLICA_FILES_BYTES_MAX_DEFAULT } from '../replication/files-archive.js';
import { newNonce, type ChannelSecret } from './secret.js';

export const RETRY_INTERVAL_MS_DEFAULT = 100; // first retry: the primary may be starting right now
export const RETRY_INTERVAL_MAX_MS_DEFAULT = 500; // backoff cap: a primary that comes up (or a restarted owner) is found within this
/** Largest checkpoint a secondary accepts over the channel (the bound on a checkpoint's body, plus room for its header). */
export const CHECKPOINT_TRANSFER_BYTES_MAX_DEFAULT = 256 * 1024 * 1024 + 64 * 1024;

/**
 * Refusals worth retrying: the condition can clear by itself. FORGED means something on the path
 * tampered with a frame: a new connection gets new keys. STALE_TOKEN: the primary was deposed (the
 * secondary's silence verdict and the arbiter decide what follows). Any other refusal is final.
 */
export const RETRYABLE_REFUSALS: ReadonlySet<string> = new Set(['LOCKSTEP_CHANNEL_BUSY', 'LOCKSTEP_CHANNEL_AUTH_TIMEOUT', 'LOCKSTEP_CHANNEL_NOT_READY', 'LOCKSTEP_CHANNEL_FORGED', 'LOCKSTEP_CHANNEL_STALE_TOKEN']);

export interface ChannelClientOptions {
  /** ws://host:port of the primary's logging channel. */
  url: string;
  secret: ChannelSecret;
  header: LogHeader;
  /** Throws (e.g. LogFormatError naming the mismatch) when the primary's header is not replicable. */
  compatible: (mine: LogHeader, theirs: LogHeader) => void;
  /** Highest seq the replication layer already holds; read at each handshake. */
  haveSeq: () => number;
  /** The last entry the replication layer has replayed: reported with every ack (the primary bounds the backlog on it). */
  replayedSeq?: () => number;
  /** Bound on a checkpoint received over the channel, in bytes. */
  checkpointBytesMax?: number;
  retryIntervalMs?: number;
  retryIntervalMaxMs?: number;
  frameBytesMax?: number;
  authTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  failureTimeoutMs?: number;
  /** Called in seq order without gaps or repeats; the ack is sent as soon as this returns (unless a checkpoint is being restored). */
  onBatch: (firstSeq: number, count: number, payload: Uint8Array) => void;
  /**
   * The primary gave a checkpoint (the state after entry #seq) instead of the log before it; batches from #seq+1 follow.
   * No ack leaves until the promise resolves (the secondary holds nothing it could go live on before). Without this
   * option a welcome that announces a checkpoint is refused.
   */
  onCheckpoint?: (seq: number, bytes: Uint8Array) => Promise<void>;
  /** Called once the primary's first sealed frame confirmed the handshake (so the welcome's epoch is genuine). */
  onConnected?: (welcome: Welcome) => void;
  /** The highest fencing token this secondary has followed; read at each handshake (a primary with a lower one is deposed). */
  token?: () => number;
  /** What this secondary keeps of the guest's files; read at each handshake. */
  replica?: () => ReplicaState;
  /** This node's name, told to the primary (which declares it a member of the epoch). */
  node?: string;
  /** The guest's files the welcome announced, whole and checked against their digest (before any batch). Without it such a welcome is refused. */
  onFiles?: (archive: Uint8Array) => void;
  /** Bound on the guest's files received, in bytes. */
  filesBytesMax?: number;
  /** The connection ended (we retry unless stopped, fenced, refused for good or said bye to); not a verdict on the primary. */
  onDisconnected?: () => void;
  /** The primary stopped on purpose: do not go live. The client stops. */
  onBye?: (reason: string) => void;
  /** The primary reports that every output gated on an entry <= seq has been released. */
  onReleased?: (seq: number) => void;
  /**
   * No authenticated frame from the primary for failureTimeoutMs, connected or reconnecting, since
   * it was first attached: the verdict. The client keeps retrying until stop()/fence().
   */
  onPeerSilent?: () => void;
  /**
   * The primary refused us. `final`: the client stopped (a refusal that cannot clear by itself, sealed,
   * or before we were ever attached); otherwise it retries (BUSY, AUTH_TIMEOUT, or an unsealed refusal
   * once attached: anyone on the path can send one).
   */
  onRefused?: (code: string, message: string, final: boolean) => void;
  /** Something we detected (bad server proof, incompatible header, seq gap, garbage). The client stops. */
  onError?: (error: ChannelError) => void;
  /** A frame from the primary failed its tag or counter check: the connection is dropped and retried (onDisconnected follows). */
  onFrameRefused?: (error: ChannelForgedError) => void;
  /** The role this side proves the secret as: 'client' (a secondary; default) or 'shadow'. */
  proofRole?: 'client' | 'shadow';
  /** A shadow: the answers the primary released. Without this option an answers frame is a protocol violation. */
  onAnswers?: (answers: ReleasedAnswer[]) => void;
  /** A shadow: a switchover frame from the primary. Without this option it is a protocol violation. */
  onSwitchover?: (message: Switchover) => void;
}

export interface ChannelClientStats {
  rttMs: number | null;
  bytesReceived: number;
  lastAckSeq: number;
  /** Frames after a handshake refused as forged, replayed, reordered or dropped, since start(). */
  framesRefused: number;
  /** The newest of our heartbeat sentMs values (performance.now()) the primary echoed on this connection, or null. */
  peerEchoedMs: number | null;
}

export type ClientState = 'idle' | 'connecting' | 'connected' | 'stopped';

export class ChannelClient {
  private readonly opts: Required<Omit<ChannelClientOptions, `on${string}` | 'replayedSeq' | 'token' | 'replica' | 'node'>> & ChannelClientOptions;
  private stateNow: ClientState = 'idle';
  private fenced = false;
  private ws: WebSocket | undefined;
  private link: Link | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private authTimer: NodeJS.Timeout | undefined;
  private attempts = 0;
  private nextSeq = 1;
  private lastAckSeq = 0;
  private lastReportedReplayedSeq = 0;
  /** The checkpoint being received on this connection (the welcome announced it). */
  private incoming: { seq: number; bytes: Uint8Array; received: number } | undefined;
  /** The guest's files being received on this connection, after the checkpoint (the welcome announced them). */
  private incomingFiles: { chunks: Uint8Array[]; received: number } | undefined;
  /** The fencing token of the current connection's welcome: every batch carries it, every ack too. */
  private token = 0;
  /** A received checkpoint is being restored: acks wait for it. */
  private restoring = false;
  private bytesReceivedDone = 0;
  private framesRefused = 0;
  /**
   * The welcome of the current connection until the primary's first sealed frame opens: only that
   * proves both sides saw the same handshake, so only then is it reported (onConnected) and trusted.
   */
  private unconfirmedWelcome: Welcome | undefined;
  private confirmed = false;
  private unconfirmedHaveSeq = 0;
  /** Connections we dropped: nothing that still arrives on them is used or acked (the close follows). */
  private readonly dropped = new WeakSet<WebSocket>();
  /** Attached at least once: from then on nothing unauthenticated stops this client. */
  private everConfirmed = false;
  /** performance.now() of the last authenticated frame from the primary (any connection). */
  private lastHeardMs = 0;
  /** While not connected after having been attached: fires the verdict at lastHeardMs + failureTimeoutMs. */
  private silenceTimer: NodeJS.Timeout | undefined;

  constructor(options: ChannelClientOptions) {
    this.opts = {
      retryIntervalMs: RETRY_INTERVAL_MS_DEFAULT,
      retryIntervalMaxMs: RETRY_INTERVAL_MAX_MS_DEFAULT,
      frameBytesMax: FRAME_BYTES_MAX_DEFAULT,
      checkpointBytesMax: CHECKPOINT_TRANSFER_BYTES_MAX_DEFAULT,
      filesBytesMax: REPLICA_FILES_BYTES_MAX_DEFAULT,
      authTimeoutMs: AUTH_TIMEOUT_MS_DEFAULT,
      heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS_DEFAULT,
      failureTimeoutMs: FAILURE_TIMEOUT_MS_DEFAULT,
      proofRole: 'client',
      ...options,
    };
  }

  get state(): ClientState {
    return this.stateNow;
  }

  get stats(): ChannelClientStats {
    return {
      rttMs: this.link?.rttMs ?? null,
      bytesReceived: this.bytesReceivedDone + (this.link?.bytesReceived ?? 0),
      lastAckSeq: this.lastAckSeq,
      framesRefused: this.framesRefused,
      peerEchoedMs: this.peerEchoedMs,
    };
  }

  /** The newest of our own heartbeat sentMs values (performance.now()) the primary echoed on this connection; null if none. */
  get peerEchoedMs(): number | null {
    return this.link?.peerEchoedMs ?? null;
  }

  start(): void {
    if (this.stateNow !== 'idle') return;
    this.connect();
  }

  /** Planned stop of the secondary: says bye if connected, then closes. */
  async stop(reason = 'secondary stopping'): Promise<void> {
    const ws = this.ws;
    const link = this.stateNow === 'connected' ? this.link : undefined;
    this.halt();
    if (!ws || ws.readyState === WebSocket.CLOSED) return;
    const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
    if (!link?.send({ type: 'bye', reason }, () => ws.close(1000, 'bye'))) ws.terminate();
    await closed;
  }

  /** The secondary went live: from now on no ack may leave this process, whatever arrives. */
  fence(): void {
    this.fenced = true;
    this.halt();
    this.ws?.terminate();
  }

  /** Drops the current connection (sealed refusal if attached) and connects again. */
  reconnect(reason: string): void {
    if (this.ws) this.drop(this.ws, new ChannelNotReadyError(reason, this.opts.url), 'retry');
  }

  /** Where it connects. */
  get url(): string {
    return this.opts.url;
  }

  /** From the next connection on, follow the primary at `url` (the arbiter names another owner); drops a connection not yet attached. */
  retarget(url: string): void {
    this.opts.url = url;
    if (this.ws && this.stateNow !== 'connected') this.ws.terminate(); // the close handler retries, at the new URL
  }

  /** Test hook: the secondary stops heartbeating, as if hung. */
  pauseHeartbeats(): void {
    this.link?.pauseHeartbeats();
  }

  private connect(): void {
    this.stateNow = 'connecting';
    const ws = new WebSocket(this.opts.url, { perMessageDeflate: false, maxPayload: this.opts.frameBytesMax, handshakeTimeout: this.opts.authTimeoutMs });
    this.ws = ws;
    const peer = this.opts.url;
    const clientNonce = newNonce();
    let serverNonce: Uint8Array | undefined;
    let haveSeq = 0;
    // The handshake frames as received and sent: both sides derive the session keys from them.
    const transcript: { hello: Uint8Array; auth: Uint8Array } = { hello: new Uint8Array(0), auth: new Uint8Array(0) };
    ws.on('upgrade', (res) => res.socket.setNoDelay(true));
    ws.on('open', () => {
      this.authTimer = setTimeout(() => this.drop(ws, new ChannelAuthTimeoutError(this.opts.authTimeoutMs, peer), 'retry'), this.opts.authTimeoutMs);
    });
    ws.on('message', (data, isBinary) => {
      if (this.ws !== ws || this.stateNow === 'stopped' || this.dropped.has(ws)) return;
      const bytes = frameBytes(data);
      if (this.link) return this.onConnectedFrame(ws, this.link, bytes, isBinary);
      let m: ChannelMessage;
      try {
        if (!isBinary) throw new ChannelProtocolError('a text frame (the channel is binary)', peer);
        m = decodeMessage(bytes, peer);
      } catch (err) {
        if (!(err instanceof ChannelError)) throw err;
        return this.drop(ws, err, this.unauthenticated);
      }
      if (m.type === 'refuse') return this.onRefuse(ws, m.code, m.message, false);
      if (!serverNonce) {
        if (m.type !== 'hello') return this.drop(ws, new ChannelProtocolError(`expected hello, got ${m.type}`, peer), this.unauthenticated);
        if (m.protocolVersion !== CHANNEL_PROTOCOL_VERSION) {
          return this.drop(ws, new ChannelIncompatibleError(`channel protocol ${m.protocolVersion}, ours is ${CHANNEL_PROTOCOL_VERSION}`, peer), this.unauthenticated);
        }
        serverNonce = m.serverNonce;
        haveSeq = this.opts.haveSeq();
        const proof = this.opts.secret.proof(serverNonce, clientNonce, this.opts.proofRole);
        transcript.hello = bytes;
        transcript.auth = encodeMessage({
          type: 'auth', clientNonce, proof, header: this.opts.header, haveSeq, replayedSeq: Math.min(this.opts.replayedSeq?.() ?? 0, haveSeq),
          token: this.opts.token?.() ?? 0, replica: this.opts.replica?.() ?? REPLICA.none, node: this.opts.node ?? '',
        });
        ws.send(transcript.auth);
        return;
      }
      if (m.type !== 'welcome') return this.drop(ws, new ChannelProtocolError(`expected welcome, got ${m.type}`, peer), this.unauthenticated);
      // Mutual auth: a primary that cannot prove the secret must not feed us a log.
      if (!this.opts.secret.verify(m.proof, serverNonce, clientNonce, 'server')) {
        return this.drop(ws, new ChannelAuthError("the primary's proof does not match our secret", peer), this.unauthenticated);
      }
      // Its fields are checked and used only once the primary's first sealed frame confirms the transcript.
      this.welcomed(ws, m, haveSeq, transcriptHash(transcript.hello, transcript.auth, bytes));
    });
    ws.on('error', (err: Error & { code?: string }) => {
      // Connection refused/reset is the normal state while the primary is down: the close handler retries.
      if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') this.drop(ws, new ChannelFrameTooLargeError(undefined, this.opts.frameBytesMax, peer), 'final');
    });
    ws.on('close', () => this.closed(ws));
  }

  /** The primary's log must be replicable here, and where the stream starts must fit what we hold: right after it, or after a checkpoint of a later state. */
  private checkWelcome(welcome: Welcome, haveSeq: number): ChannelError | undefined {
    const peer = this.opts.url;
    try {
      this.opts.compatible(this.opts.header, welcome.header);
    } catch (err) {
      return new ChannelIncompatibleError((err as Error).message, peer);
    }
    if (welcome.files && !this.opts.onFiles) return new ChannelProtocolError('the welcome announced the guest\'s files, and this secondary keeps no replica of them', peer);
    if (welcome.checkpointBytes === 0) return welcome.startSeq === haveSeq + 1 ? undefined : new ChannelSeqError(haveSeq + 1, welcome.startSeq, peer);
    if (!this.opts.onCheckpoint) return new ChannelProtocolError('the welcome announced a checkpoint, and this secondary takes none', peer);
    if (welcome.startSeq <= haveSeq) return new ChannelSeqError(haveSeq + 1, welcome.startSeq, peer);
    if (welcome.checkpointBytes > this.opts.checkpointBytesMax) {
      return new ChannelProtocolError(`the welcome announced a checkpoint of ${welcome.checkpointBytes} bytes, more than checkpointBytesMax (${this.opts.checkpointBytesMax})`, peer);
    }
    return undefined;
  }

  /**
   * Before the handshake is confirmed nothing is known to be the primary's own: anything wrong is
   * retried once we have been attached (ending protection on it would let anyone on the path do so),
   * and is final only for a secondary that never was (a misconfiguration, said at once).
   */
  private get unauthenticated(): 'retry' | 'final' {
    return this.everConfirmed ? 'retry' : 'final';
  }

  private welcomed(ws: WebSocket, welcome: Welcome, haveSeq: number, transcript: Uint8Array): void {
    this.unconfirmedWelcome = welcome;
    this.unconfirmedHaveSeq = haveSeq;
    this.confirmed = false;
    this.link = new Link(ws, {
      heartbeatIntervalMs: this.opts.heartbeatIntervalMs,
      failureTimeoutMs: this.opts.failureTimeoutMs,
      session: openSession(this.opts.secret, transcript, 'secondary', this.opts.url),
      peer: this.opts.url,
      onSilent: () => {
        // The close handler retries, and gives the verdict if nothing authenticated arrives in time.
        if (this.ws === ws) ws.terminate();
      },
    });
  }

  /**
   * The primary's first sealed frame opened: the handshake is confirmed, so the welcome is the
   * primary's own. Only now is it checked and acted on (a bad one is final: the primary sent it).
   */
  private confirm(ws: WebSocket, welcome: Welcome): boolean {
    clearTimeout(this.authTimer);
    this.unconfirmedWelcome = undefined;
    const error = this.checkWelcome(welcome, this.unconfirmedHaveSeq);
    if (error) {
      this.drop(ws, error, 'final');
      return false;
    }
    this.nextSeq = welcome.startSeq;
    this.lastAckSeq = this.unconfirmedHaveSeq;
    this.restoring = false;
    this.lastReportedReplayedSeq = 0;
    this.incoming = welcome.checkpointBytes > 0 ? { seq: welcome.startSeq - 1, bytes: new Uint8Array(welcome.checkpointBytes), received: 0 } : undefined;
    this.incomingFiles = welcome.files ? { chunks: [], received: 0 } : undefined;
    this.token = welcome.token;
    this.confirmed = true;
    this.everConfirmed = true;
    clearTimeout(this.silenceTimer);
    this.silenceTimer = undefined;
    this.stateNow = 'connected';
    this.attempts = 0;
    this.opts.onConnected?.(welcome);
    return true;
  }

  /** A frame from the primary: nothing in it is used (not even as a sign of life) unless its tag and counter check out. */
  private onConnectedFrame(ws: WebSocket, link: Link, bytes: Uint8Array, isBinary: boolean): void {
    let m: ChannelMessage;
    try {
      if (!isBinary) throw new ChannelForgedError('a text frame (every frame after the handshake is sealed binary)', this.opts.url);
      m = link.open(bytes);
    } catch (err) {
      if (!(err instanceof ChannelError)) throw err;
      if (!(err instanceof ChannelForgedError)) return this.drop(ws, err, 'final');
      // Tampering on the path, not a broken primary: a new connection gets new keys.
      this.framesRefused++;
      this.opts.onFrameRefused?.(err);
      return this.drop(ws, err, 'retry');
    }
    this.lastHeardMs = performance.now();
    if (this.unconfirmedWelcome) {
      if (!this.confirm(ws, this.unconfirmedWelcome)) return;
      if (this.ws !== ws || this.stateNow !== 'connected' || this.dropped.has(ws)) return; // onConnected stopped, fenced or dropped us
    }
    switch (m.type) {
      case 'heartbeat':
        return;
      case 'batch': {
        if (this.incoming || this.incomingFiles) return this.drop(ws, new ChannelProtocolError('a batch before the checkpoint or files the welcome announced were complete', this.opts.url), 'final');
        if (m.token !== this.token) return this.drop(ws, new ChannelProtocolError(`a batch with fencing token ${m.token}, not the welcome's ${this.token}`, this.opts.url), 'final');
        if (m.firstSeq !== this.nextSeq) return this.drop(ws, new ChannelSeqError(this.nextSeq, m.firstSeq, this.opts.url), 'final');
        this.nextSeq += m.count;
        this.opts.onBatch(m.firstSeq, m.count, m.payload);
        // On receipt, not after replay (the output rule only needs the entries to exist here).
        if (this.ws === ws) this.ack(link);
        return;
      }
      case 'checkpoint':
        return this.onCheckpointChunk(ws, link, m.offset, m.chunk);
      case 'files':
        return this.onFilesChunk(ws, link, m);
      case 'released':
        this.opts.onReleased?.(m.seq);
        return;
      case 'answers':
        if (!this.opts.onAnswers) break;
        this.opts.onAnswers(m.answers);
        return;
      case 'switchover':
        if (!this.opts.onSwitchover) break;
        this.opts.onSwitchover(m);
        return;
      case 'refuse':
        return this.onRefuse(ws, m.code, m.message, true);
      case 'bye':
        this.halt();
        this.opts.onBye?.(m.reason);
        ws.close(1000, 'bye');
        return;
      default:
        break;
    }
    return this.drop(ws, new ChannelProtocolError(`unexpected ${m.type} from a primary`, this.opts.url), 'final');
  }

  /** A shadow's switchover frame to the primary; false if not connected. */
  sendSwitchover(message: Switchover): boolean {
    return this.link !== undefined && this.confirmed && this.stateNow === 'connected' ? this.link.send(message) : false;
  }

  /** A chunk of the announced checkpoint; once all of it is here, it is handed over and acks wait for its restore. */
  private onCheckpointChunk(ws: WebSocket, link: Link, offset: number, chunk: Uint8Array): void {
    const incoming = this.incoming;
    if (!incoming || offset !== incoming.received || offset + chunk.length > incoming.bytes.length) {
      return this.drop(ws, new ChannelProtocolError(`a checkpoint chunk at byte ${offset} that does not continue the checkpoint announced`, this.opts.url), 'final');
    }
    incoming.bytes.set(chunk, offset);
    incoming.received += chunk.length;
    if (incoming.received < incoming.bytes.length) return;
    this.incoming = undefined;
    this.restoring = true;
    this.opts.onCheckpoint!(incoming.seq, incoming.bytes).then(
      () => {
        if (this.ws !== ws || !this.restoring) return;
        this.restoring = false;
        this.ack(link);
      },
      () => undefined, // the replication layer reports and stops; nothing is acked on a failed restore
    );
  }

  /** A chunk of the announced files (after the checkpoint); once all of it is here and its digest matches, it is handed over. */
  private onFilesChunk(ws: WebSocket, link: Link, m: FilesChunk): void {
    const incoming = this.incomingFiles;
    const bad = (what: string) => this.drop(ws, new ChannelProtocolError(what, this.opts.url), 'final');
    if (!incoming || this.incoming || m.offset !== incoming.received || m.offset + m.chunk.length > m.total) return bad(`a files chunk at byte ${m.offset} that does not continue the files announced`);
    if (m.total > this.opts.filesBytesMax) return bad(`the primary's guest files take ${m.total} bytes, more than this secondary accepts (--replica-bytes-max ${this.opts.filesBytesMax})`);
    incoming.chunks.push(m.chunk);
    incoming.received += m.chunk.length;
    if (incoming.received < m.total) return;
    const archive = Buffer.concat(incoming.chunks, m.total);
    if (!filesDigest(archive).equals(m.digest)) return bad('the guest files received do not match their digest');
    this.incomingFiles = undefined;
    this.opts.onFiles!(archive);
    if (this.ws === ws) this.ack(link);
  }

  /** Acks what has been received (unless a checkpoint or the files are still arriving or being restored, or we went live), with how far we replayed. */
  private ack(link: Link): void {
    if (this.fenced || this.restoring || this.incoming || this.incomingFiles) return;
    this.lastAckSeq = this.nextSeq - 1;
    const replayedSeq = Math.min(this.opts.replayedSeq?.() ?? 0, this.lastAckSeq);
    this.lastReportedReplayedSeq = replayedSeq;
    link.send({ type: 'ack', seq: this.lastAckSeq, replayedSeq, token: this.token });
  }

  /** Tells the primary how far we replayed, when that moved on (it bounds what it sends beyond it). */
  reportReplayed(): void {
    if (!this.link || !this.confirmed || this.stateNow !== 'connected') return;
    if ((this.opts.replayedSeq?.() ?? 0) <= this.lastReportedReplayedSeq) return;
    this.ack(this.link);
  }

  /** A sealed refusal is the primary's word; an unsealed one is only believed before we were ever attached. */
  private onRefuse(ws: WebSocket, code: string, message: string, sealed: boolean): void {
    const final = !RETRYABLE_REFUSALS.has(code) && (sealed || !this.everConfirmed);
    if (final) this.halt();
    this.opts.onRefused?.(code, sealed ? message : `${message} (unsealed)`, final);
    ws.terminate();
  }

  /** We end this connection: tell the primary why, report, and either retry or stop for good. */
  private drop(ws: WebSocket, error: ChannelError, then: 'retry' | 'final'): void {
    if (this.ws !== ws || this.dropped.has(ws)) return;
    this.dropped.add(ws);
    const link = this.link; // after the handshake the refusal is sealed too
    if (then === 'final') this.halt();
    if (link) link.refuseAndClose(error.code, error.message);
    else refuseAndClose(ws, error.code, error.message);
    if (then === 'final') this.opts.onError?.(error);
  }

  private closed(ws: WebSocket): void {
    if (this.ws !== ws) return;
    clearTimeout(this.authTimer);
    const wasConnected = this.link !== undefined && this.confirmed;
    this.confirmed = false;
    this.unconfirmedWelcome = undefined;
    this.endLink();
    this.ws = undefined;
    if (wasConnected) {
      this.attempts = 0; // a blip: try again at once
      this.opts.onDisconnected?.();
    }
    if (this.stateNow === 'stopped') return;
    this.armSilenceVerdict();
    this.stateNow = 'connecting';
    const delay = Math.min(this.opts.retryIntervalMs * 2 ** this.attempts, this.opts.retryIntervalMaxMs);
    this.attempts = Math.min(this.attempts + 1, 30);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  /** Once attached, being unconnected is judged like silence: the verdict comes failureTimeoutMs after the last authenticated frame. */
  private armSilenceVerdict(): void {
    if (!this.everConfirmed || this.silenceTimer !== undefined) return;
    const leftMs = Math.max(0, this.lastHeardMs + this.opts.failureTimeoutMs - performance.now());
    this.silenceTimer = setTimeout(() => {
      this.silenceTimer = undefined;
      if (this.stateNow === 'connected' || this.stateNow === 'stopped') return;
      this.opts.onPeerSilent?.();
    }, leftMs);
  }

  /** Stop for good: no retries, no heartbeats. The socket is closed by the caller. */
  private halt(): void {
    this.stateNow = 'stopped';
    clearTimeout(this.retryTimer);
    clearTimeout(this.authTimer);
    clearTimeout(this.silenceTimer);
    this.silenceTimer = undefined;
    this.endLink();
  }

  private endLink(): void {
    if (!this.link) return;
    this.bytesReceivedDone += this.link.bytesReceived;
    this.link.stop();
    this.link = undefined;
  }
}
