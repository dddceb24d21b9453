// A primary's feed to its shadow: a node running another program that replays the live log to
// compare its answers with the ones this primary released (src/timetravel/shadow-node.ts). It
// connects to the logging channel on /shadow and gets a channel server of its own, so it never
// counts as protection: it is not the attached secondary, its acks release nothing and only move
// its own window, and it is never given a checkpoint (another program cannot start from this
// program's heap), so it needs the log from entry #1. A slow shadow never slows the primary: it is
// sent what the retained log holds, within its own window, and dropped once it needs entries the
// retained log no longer keeps.
import type { IncomingMessage } from 'node:http';
import type { WebSocket } from 'ws';
import { ChannelServer, FRAME_BYTES_MAX_DEFAULT, type DetachReason, type PeerInfo } from '../channel/channel-server.js';
import { ChannelError, ChannelFrameTooLargeError } from '../channel/errors.js';
import type { ReleasedAnswer, Switchover } from '../channel/messages.js';
import type { ChannelSecret } from '../channel/secret.js';
import type { Output } from '../engine/executor.js';
import { checkHeaderCompatible, encodeBatch } from '../log/codec.js';
import type { LogHeader } from '../log/entries.js';
import type { Fork } from './lineage.js';
import type { RetainedLog } from './retained-log.js';
import type { Timeline } from './timeline.js';
import { Coalesced } from './coalesced.js';

/** The path a shadow connects to on the primary's logging channel. */
export const SHADOW_PATH = '/shadow';
/** Log sent to the shadow and not yet acknowledged, at most, in bytes. */
export const SHADOW_INFLIGHT_BYTES_MAX = 1024 * 1024;
/** Entries sent beyond what the shadow has replayed, at most: the rest waits in the retained log. */
export const SHADOW_BACKLOG_ENTRIES_MAX = 8192;
const SHADOW_BATCH_ENTRIES_MAX = 2048;
const SHADOW_BATCH_BYTES_MAX = 256 * 1024;
/** Answer bytes per answers frame, at most; an answer bigger than this alone is not sent (the shadow counts it unchecked). */
const ANSWERS_FRAME_BYTES_MAX = 4 * 1024 * 1024;
const ANSWERS_FRAME_COUNT_MAX = 1024;

/** The shadow needs entries this primary no longer keeps: it must start from a recording that holds them. */
export class ShadowHistoryError extends ChannelError {
  readonly code = 'LOCKSTEP_SHADOW_NO_HISTORY';
  override readonly exitCode = 4;
  constructor(why: string, peer: string) {
    super(`Refused a shadow (peer ${peer}): ${why}.`, peer);
  }
}

/** A shadow runs another program on purpose; the log format, runtime and limits must still be the same on both sides. */
export function checkShadowCompatible(mine: LogHeader, theirs: LogHeader): void {
  checkHeaderCompatible({ formatVersion: mine.formatVersion, runtime: mine.runtime, programHash: theirs.programHash, limits: mine.limits }, theirs);
}

export interface ShadowFeedOptions {
  secret: ChannelSecret;
  header: LogHeader;
  epoch: number;
  forks: readonly Fork[];
  frameBytesMax?: number;
  heartbeatIntervalMs: number;
  failureTimeoutMs: number;
  /** The primary's retained log (shared, read only here). */
  retained: RetainedLog;
  /** A switchover frame from the attached shadow (replication/switchover.ts). */
  onSwitchover(message: Switchover, peer: string): void;
  /** The shadow is gone (a switchover in progress is abandoned, unless it is committed). */
  onShadowGone(reason: string): void;
  /** Refuses an attach for the primary's own reasons (fenced, arbitrating, a switchover under way). */
  attachRefusal(peer: PeerInfo): ChannelError | undefined;
  log(line: string): void;
  timeline: Timeline;
}

export class ShadowFeed {
  readonly server: ChannelServer;
  private peer: string | null = null;
  private sentThrough = 0;
  private readonly pumpSoon = new Coalesced(() => this.pump(), queueMicrotask);
  private answers: ReleasedAnswer[] = [];
  private readonly answersSoon = new Coalesced(() => this.flushAnswers(), queueMicrotask);
  private answersSent = 0;
  private answersTooLarge = 0;
  private attaches = 0;

  constructor(private readonly options: ShadowFeedOptions) {
    this.server = new ChannelServer({
      // Never listens: it adopts the connections the primary's channel server diverts to it.
      host: '127.0.0.1',
      port: 0,
      secret: options.secret,
      header: options.header,
      compatible: checkShadowCompatible,
      peerProofRole: 'shadow',
      epoch: options.epoch,
      forks: options.forks,
      frameBytesMax: options.frameBytesMax ?? FRAME_BYTES_MAX_DEFAULT,
      heartbeatIntervalMs: options.heartbeatIntervalMs,
      failureTimeoutMs: options.failureTimeoutMs,
      canAttach: (peer) => this.historyRefusal(peer) ?? options.attachRefusal(peer), // its own history rule first: the secondaries' names a checkpoint it cannot use
      onAttach: (peer) => this.attached(peer),
      onConfirmed: () => this.pump(),
      onAck: () => this.pump(),
      onDetach: (reason, detail) => this.detached(reason, detail),
      onRefused: (error) => options.log(`refused a would-be shadow: ${error.message} [${error.code}]`),
      onSwitchover: (message) => options.onSwitchover(message, this.peer ?? '?'),
    });
  }

  /** For the primary's channel server: takes a connection made to /shadow. */
  divert(ws: WebSocket, req: IncomingMessage): boolean {
    if (new URL(req.url ?? '/', 'ws://x').pathname !== SHADOW_PATH) return false;
    this.server.adopt(ws, req);
    return true;
  }

  /** Replays from #1 (or from the end of the recording it started from): it needs every entry after what it holds. */
  private historyRefusal(peer: PeerInfo): ChannelError | undefined {
    const { retained } = this.options;
    if (peer.haveSeq > retained.lastSeq) return new ShadowHistoryError(`it holds entries up to #${peer.haveSeq} but this primary's log ends at #${retained.lastSeq} (its recording is of another run)`, peer.address);
    if (peer.haveSeq + 1 >= retained.retainedFrom) return undefined;
    const from = peer.haveSeq === 0 ? 'entry #1' : `entry #${peer.haveSeq + 1} (after its recording)`;
    return new ShadowHistoryError(
      `it must replay from ${from}, but this primary keeps its log only from #${retained.retainedFrom} (the rest is covered by a checkpoint, ` +
        "which another program cannot start from). Start the shadow with --from-recording FILE, a recording of this pair's log that " +
        `reaches at least #${retained.retainedFrom - 1} (what a shadow started with --record FILE wrote), or attach a shadow before the primary's first checkpoint`,
      peer.address,
    );
  }

  private attached(peer: PeerInfo): number {
    this.peer = peer.address;
    this.sentThrough = peer.haveSeq;
    this.attaches++;
    this.options.log(`shadow ${peer.address} attached holding ${peer.haveSeq} entries; streaming from #${peer.haveSeq + 1} (it is not protection: nothing waits for it)`);
    this.options.timeline.add('shadow-attach', `shadow ${peer.address} from #${peer.haveSeq + 1}`);
    return this.options.retained.lastSeq;
  }

  private detached(reason: DetachReason, detail: string): void {
    const peer = this.peer;
    this.peer = null;
    this.answers = [];
    if (reason === 'server-closing') return;
    this.options.log(`shadow ${peer} detached (${reason}: ${detail}); the pair is unaffected`);
    this.options.timeline.add('shadow-detach', `${reason}: ${detail}`);
    this.options.onShadowGone(`${reason}: ${detail}`);
  }

  /** The first entry the attached shadow has not been sent: the retained log keeps it a while (bounded by its own limits). */
  get neededFrom(): number | undefined {
    return this.peer === null ? undefined : this.sentThrough + 1;
  }

  get attachedPeer(): string | null {
    return this.peer;
  }

  /** Highest entry the shadow has acknowledged receiving (it stays when the shadow leaves: one that went live has left). */
  get ackedSeq(): number {
    return this.server.stats.lastAckSeq;
  }

  /** A new entry was logged: sent at the next event boundary (a microtask), as to the secondary. */
  entryLogged(): void {
    if (this.peer !== null) this.pumpSoon.request();
  }

  private pump(): void {
    if (this.peer === null) return;
    const { retained } = this.options;
    if (this.sentThrough + 1 < retained.retainedFrom) {
      this.server.dropSecondary(`the shadow fell behind: it needs entry #${this.sentThrough + 1} but this primary keeps entries only from #${retained.retainedFrom}`);
      return;
    }
    const through = retained.lastSeq;
    const backlogEnd = (this.server.peerReplayedSeq ?? this.sentThrough) + SHADOW_BACKLOG_ENTRIES_MAX;
    while (this.sentThrough < through && this.sentThrough < backlogEnd && this.server.unackedBytes < SHADOW_INFLIGHT_BYTES_MAX) {
      const entries = retained.chunk(this.sentThrough + 1, Math.min(SHADOW_BATCH_ENTRIES_MAX, through - this.sentThrough, backlogEnd - this.sentThrough), SHADOW_BATCH_BYTES_MAX);
      try {
        if (!this.server.sendBatch(this.sentThrough + 1, entries.length, encodeBatch(this.sentThrough + 1, entries))) return;
      } catch (error) {
        if (!(error instanceof ChannelFrameTooLargeError)) throw error;
        this.server.dropSecondary(`entry #${this.sentThrough + 1} cannot be shipped to the shadow: ${error.message}`);
        return;
      }
      this.sentThrough += entries.length;
    }
  }

  /** An output the primary's gate released: answers go to the shadow (stored answers to a repeated key are not events, and are not sent). */
  released(output: Output): void {
    const { effect } = output;
    if (this.peer === null || effect.type !== 'respond') return;
    const body = typeof effect.body === 'string' ? new Uint8Array(Buffer.from(effect.body, 'utf8')) : effect.body;
    if (body.length > ANSWERS_FRAME_BYTES_MAX) {
      this.answersTooLarge++;
      return;
    }
    this.answers.push({ seq: effect.requestId, status: effect.status, headers: effect.headers, body });
    this.answersSoon.request();
  }

  private flushAnswers(): void {
    while (this.answers.length > 0) {
      let bytes = 0;
      let count = 0;
      while (count < this.answers.length && count < ANSWERS_FRAME_COUNT_MAX && bytes + this.answers[count]!.body.length <= ANSWERS_FRAME_BYTES_MAX) bytes += this.answers[count++]!.body.length;
      const answers = this.answers.splice(0, count);
      if (this.server.sendToPeer({ type: 'answers', answers })) this.answersSent += answers.length;
    }
  }

  sendSwitchover(message: Switchover): boolean {
    return this.server.sendToPeer(message);
  }

  setEpoch(epoch: number, forks: readonly Fork[], token: number): void {
    this.server.setEpoch(epoch, forks, token);
  }

  status(): Record<string, unknown> {
    return { shadow: this.peer, shadowAckedSeq: this.peer === null ? null : this.ackedSeq, shadowAnswersSent: this.answersSent, shadowAnswersTooLarge: this.answersTooLarge, shadowAttaches: this.attaches };
  }

  /** `bye`: a planned stop, said to the shadow (it stops too). Without: it is cut off (a handover: it must replay the stop first). */
  async close(bye?: string): Promise<void> {
    if (bye !== undefined) await this.server.sendBye(bye);
    await this.server.close();
  }
}
