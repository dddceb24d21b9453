// Serving as the primary of a pair: streams the log to the secondary over the channel, gates
// outputs on its acks (the output rule) under a lease, applies flow control, and when the
// secondary fails, wins the claim before going on alone. Used by `lockstep primary` and by a
// secondary once live. Protection: unprotected -> catching-up -> protected -> arbitrating -> ...
import { performance } from 'node:perf_hooks';
import { checkHeaderCompatible, encodeBatch } from '../log/codec.js';
import type { Entry, LogHeader } from '../log/entries.js';
import { ChannelServer, FRAME_BYTES_MAX_DEFAULT, type CheckpointOffer, type DetachReason, type PeerInfo } from '../channel/channel-server.js';
import { ChannelFrameTooLargeError, ChannelHistoryError, ChannelNotReadyError, type ChannelError } from '../channel/errors.js';
import type { ChannelSecret } from '../channel/secret.js';
import type { Executor } from '../engine/executor.js';
import type { LiveHost } from '../host/live-host.js';
import { AckGate } from './output-gate.js';
import type { Arbiter } from './arbiter.js';
import { claimEpochWithin, CLAIM_TIMEOUT_MS_DEFAULT } from './claim-deadline.js';
import { RetainedLog } from './retained-log.js';
import { packDataDir, REPLICA_FILES_BYTES_MAX_DEFAULT } from './files-archive.js';
import { AdmissionFullError, ClaimTimeoutError, SharedStorageError } from './errors.js';
import { Timeline } from './timeline.js';
import { ReplayCost } from './replay-cost.js';
import type { Lineage } from './lineage.js';
import { recordMetrics } from '../metrics/record.js';
import { assert } from '../assert.js';
import type { NodeCheckpoints } from '../checkpoint/node-checkpoints.js';
import { ShadowFeed } from './shadow-feed.js';
import { Handover, SwitchingOverError } from './switchover.js';

export const UNACKED_BYTES_MAX = 8 * 1024 * 1024;
/** Requests held back by flow control, at most, in bytes (body, path, headers): past it a request is refused at once (503). */
export const ADMISSION_WAITING_BYTES_MAX = 64 * 1024 * 1024;
/** Log sent and not yet acknowledged, at most: a backlog is streamed in windows, so heartbeats never starve. */
export const INFLIGHT_BYTES_MAX = 1024 * 1024;
export const BATCH_ENTRIES_MAX = 2048;
/** A batch stops growing at this many (estimated) bytes; one event may exceed it alone. */
export const BATCH_BYTES_MAX = 256 * 1024;
/** How often, at most, the primary tells the secondary which outputs have certainly left. */
export const RELEASED_REPORT_MS = 10;
/** Bound on the per-batch send times kept for lagMs (flow control normally keeps far fewer). */
export const UNACKED_BATCHES_TRACKED_MAX = 100_000;
/**
 * The lease: outputs leave only while now < (our heartbeat time the secondary last echoed) + this
 * fraction of the failure timeout. The secondary cannot declare us failed before that moment, so a
 * primary frozen past it (SIGSTOP, GC, VM pause) releases nothing once it resumes.
 */
export const LEASE_FRACTION = 0.9;
/**
 * Entries sent beyond what the secondary has replayed, at most: what it would have to replay before
 * going live, so this bounds the failover time (a secondary that replays slower holds the primary
 * back, as VMware FT slows a primary whose secondary lags). At least REPLAY_BACKLOG_ENTRIES_MIN.
 */
export const REPLAY_BACKLOG_ENTRIES_MAX = 4096;
/**
 * The same bound in replay time: what the log sent beyond the secondary's replay cost the primary to
 * run live, at most (replay-cost.ts). This is what bounds failover time when events are CPU-heavy.
 */
export const REPLAY_BACKLOG_MS_MAX = 500;
/** The secondary reports its replay progress in steps of this many entries, so a smaller bound could stall. */
export const REPLAY_BACKLOG_ENTRIES_MIN = 1024;

export interface PrimaryRoleOptions {
  /** Decides epochs: the claim on a secondary's failure, and where this node's logging channel listens. */
  arbiter: Arbiter;
  listen: { host: string; port: number };
  secret: ChannelSecret;
  header: LogHeader;
  epoch: number;
  /** Where this node's log left its predecessors' (a fresh start: Lineage.startingAt(epoch)). */
  lineage: Lineage;
  heartbeatIntervalMs: number;
  failureTimeoutMs: number;
  frameBytesMax?: number;
  unackedBytesMax?: number;
  admissionWaitingBytesMax?: number;
  /** A claim not decided within this long stops the node (exit 11). */
  claimTimeoutMs?: number;
  inflightBytesMax?: number;
  replayBacklogEntriesMax?: number;
  replayBacklogMsMax?: number;
  /** This node's checkpoints: taken by their policy between events, and given to a secondary that needs the log before one. */
  checkpoints?: NodeCheckpoints;
  /** Only to show what goes wrong without the output rule. */
  outputGate: boolean;
  /** Fault injection: ship each batch this long after it was produced, like a slow logging link. */
  channelDelayMs?: number;
  /** Bound on the guest's files sent to a fresh secondary that keeps its own replica (two hosts). */
  replicaBytesMax?: number;
  /** Called when this side lost the claim: it must stop at once and release nothing more. */
  onFenced(reason: string, exitCode?: number): void;
  /** A planned switchover handed the primary role to the shadow: this node has stopped (default: onFenced with exit code 0). */
  onHandedOver?(reason: string): void;
  log(line: string): void;
  timeline: Timeline;
}

export type Protection = 'unprotected' | 'catching-up' | 'protected' | 'arbitrating';

export class PrimaryRole {
  /** Nothing leaves under a lapsed lease (LEASE_FRACTION), not even an answer whose entries were acknowledged. */
  readonly gate = new AckGate(
    () => this.mayRelease(),
    () => this.releaseUnderLease(),
  );
  readonly server: ChannelServer;
  /** A shadow running another program follows the log here; it never counts as protection (shadow-feed.ts). */
  readonly shadow: ShadowFeed;
  private readonly handover: Handover;
  epoch: number;
  private lineage: Lineage;
  protection: Protection = 'unprotected';
  private sentThrough = 0;
  /** Our last entry when the secondary attached: it is caught up once it acknowledged this. */
  private attachSeq = 0;
  private ackedSeq = 0;
  private pumpScheduled = false;
  /** With --channel-delay-ms: entries up to here have waited their delay and may be shipped. */
  private delayedThrough = 0;
  private admissionWaiters: Array<{ bytes: number; resolve: () => void }> = [];
  private admissionWaitingBytes = 0;
  private releasedReported = 0;
  private lastPumpMs = 0;
  private releasedTimer: NodeJS.Timeout | undefined;
  private leaseTimer: NodeJS.Timeout | undefined;
  /** Batches sent and not yet acknowledged, oldest first: how far behind the secondary is, in ms. */
  private unacked: Array<{ lastSeq: number; sentMs: number }> = [];
  private fenced = false;
  private leaseWaits = 0;
  private readonly startedMs = Date.now();
  private readonly unackedBytesMax: number;
  private readonly inflightBytesMax: number;
  private readonly replayBacklogEntriesMax: number;
  private readonly replayCost = new ReplayCost();
  private listenPort: number | undefined;

  constructor(
    private readonly options: PrimaryRoleOptions,
    private readonly executor: Executor,
    private readonly host: LiveHost,
    readonly retained: RetainedLog,
  ) {
    this.epoch = options.epoch;
    this.lineage = options.lineage;
    this.unackedBytesMax = options.unackedBytesMax ?? UNACKED_BYTES_MAX;
    this.inflightBytesMax = options.inflightBytesMax ?? INFLIGHT_BYTES_MAX;
    this.replayBacklogEntriesMax = options.replayBacklogEntriesMax ?? REPLAY_BACKLOG_ENTRIES_MAX;
    assert(this.replayBacklogEntriesMax >= REPLAY_BACKLOG_ENTRIES_MIN, `replayBacklogEntriesMax must be at least ${REPLAY_BACKLOG_ENTRIES_MIN}`);
    this.gate.openAll(); // alone until a secondary attaches
    options.arbiter.onEpochLost((epoch) => {
      if (epoch === this.epoch && !this.fenced) this.fence(`the claim of epoch ${epoch} expired with its lease while etcd was out of reach, and a later epoch was claimed since`);
    });
    // The role owns how the host's outputs and event boundaries reach the channel.
    host.gate = this.gate;
    host.setAfterEvent(() => this.afterEvent());
    this.server = new ChannelServer({
      host: options.listen.host,
      port: options.listen.port,
      secret: options.secret,
      header: options.header,
      compatible: (mine, theirs) => checkHeaderCompatible(mine, theirs),
      epoch: this.epoch,
      forks: this.lineage.forks,
      token: options.arbiter.tokenOf(this.epoch),
      filesFor: () => packDataDir(host.dataDir, options.replicaBytesMax ?? REPLICA_FILES_BYTES_MAX_DEFAULT),
      onDeposed: (theirToken) => this.deposed(theirToken),
      // Never undefined: an undefined here would override the server's default and lift the limit.
      frameBytesMax: options.frameBytesMax ?? FRAME_BYTES_MAX_DEFAULT,
      heartbeatIntervalMs: options.heartbeatIntervalMs,
      failureTimeoutMs: options.failureTimeoutMs,
      canAttach: (peer) => this.attachRefusal(peer),
      checkpointFor: (peer) => this.checkpointFor(peer),
      onCheckpointSent: () => this.pump(),
      onAttach: (peer) => this.attached(peer),
      onConfirmed: (peer) => {
        this.declareMember(peer.node);
        this.pump();
      },
      onAck: (seq) => this.acked(seq),
      onDetach: (reason, detail) => void this.secondaryGone(reason, detail),
      onRefused: (error) => options.log(`refused a would-be secondary: ${error.message} [${error.code}]`),
      divert: (ws, req) => this.shadow.divert(ws, req),
    });
    this.handover = new Handover({
      lastSeq: () => this.executor.lastSeq,
      quiet: () => this.host.pendingAnswers === 0 && this.gate.waiting === 0,
      refusal: () => (this.fenced ? 'this primary was fenced' : this.protection === 'arbitrating' ? 'this primary is arbitrating after its secondary failed' : undefined),
      logStop: (reason) => {
        const seq = this.executor.logControl({ kind: 'stop', reason });
        this.host.stop(); // nothing more is logged after the stop (a timer, a disk completion) nor released
        this.pump();
        return seq;
      },
      shadowAcked: () => this.shadow.ackedSeq,
      secondaryAcked: () => (this.gatingOnAcks() ? this.ackedSeq : null),
      send: (message) => this.shadow.sendSwitchover(message),
      finish: (reason) => this.handedOver(reason),
      log: options.log,
      timeline: (event, detail) => options.timeline.add(event, detail),
    });
    this.shadow = new ShadowFeed({
      ...options,
      forks: this.lineage.forks,
      retained,
      attachRefusal: (peer) => this.attachRefusal(peer),
      onSwitchover: (message, peer) => this.handover.onMessage(message, peer),
      onShadowGone: (reason) => this.handover.shadowGone(reason),
    });
    host.setOnReleased((output) => this.shadow.released(output));
  }

  /** Listens on the logging channel and records the address in our claim, so restarted nodes find us. */
  async listen(): Promise<number> {
    const { port } = await this.server.listen();
    this.listenPort = port;
    await this.options.arbiter.update(this.epoch, { logListen: this.logListen ?? undefined });
    return port;
  }

  get logListen(): string | null {
    return this.listenPort === undefined ? null : `${this.options.listen.host}:${this.listenPort}`;
  }

  /** A secondary may attach only to a primary alone, and only if its log is a prefix of ours. */
  private attachRefusal(peer: PeerInfo): ChannelError | undefined {
    if (this.fenced) return new ChannelNotReadyError('this node was fenced and is stopping', peer.address);
    if (this.handover.refusingRequests) return new ChannelNotReadyError('it is handing its role over to its shadow', peer.address);
    if (this.protection === 'arbitrating') return new ChannelNotReadyError('it is arbitrating after its previous secondary failed', peer.address);
    if (peer.haveSeq > this.retained.lastSeq) {
      return new ChannelHistoryError(`it holds entries up to #${peer.haveSeq} but this primary's log ends at #${this.retained.lastSeq} (another run's log)`, peer.address);
    }
    if (peer.haveSeq + 1 < this.retained.retainedFrom && !this.checkpointFor(peer)) {
      return new ChannelHistoryError(`it needs entries from #${peer.haveSeq + 1} but this primary keeps them only from #${this.retained.retainedFrom}, and has no checkpoint to give instead`, peer.address);
    }
    return undefined;
  }

  /**
   * The newest checkpoint, for a secondary that would need the log before what we keep, or that
   * holds nothing (restoring it and replaying on is quicker than replaying from #1). Only one we
   * keep the whole log after.
   */
  private checkpointFor(peer: PeerInfo): CheckpointOffer | undefined {
    const newest = this.options.checkpoints?.newest;
    if (!newest || newest.seq + 1 < this.retained.retainedFrom || newest.seq <= peer.haveSeq || newest.seq > this.retained.lastSeq) return undefined;
    return peer.haveSeq === 0 || peer.haveSeq + 1 < this.retained.retainedFrom ? newest : undefined;
  }

  /** Drops the log a checkpoint covers, once an attached secondary has been sent all of it. */
  private dropCoveredLog(): void {
    const newest = this.options.checkpoints?.newest;
    if (!newest || newest.seq < this.retained.retainedFrom) return;
    if (this.gatingOnAcks() && this.sentThrough < newest.seq) return;
    if ((this.shadow.neededFrom ?? Infinity) <= newest.seq) return; // the shadow cannot use the checkpoint: keep its log (bounded by the retained log's own limits)
    this.retained.dropThrough(newest.seq);
  }

  /**
   * The attach decision, in the turn the welcome leaves: the gate closes at our last entry, which is
   * the welcome's catch-up target. Everything released so far is at or before it; everything after
   * it waits for this secondary's acks. Streaming starts once its first sealed frame confirms.
   */
  private attached(peer: PeerInfo): number {
    this.attachSeq = this.retained.lastSeq;
    this.delayedThrough = Math.max(this.delayedThrough, this.attachSeq); // the history is old enough to ship
    this.sentThrough = Math.max(peer.haveSeq, peer.checkpointSeq);
    // What a checkpoint covers is never sent, so it is not owed: admission counts the log after it.
    this.ackedSeq = this.sentThrough;
    this.unacked = [];
    if (this.options.outputGate) this.gate.regate(peer.haveSeq);
    const caughtUp = peer.haveSeq >= this.attachSeq;
    const from = peer.checkpointSeq > 0 ? `the checkpoint after #${peer.checkpointSeq}, then #${peer.checkpointSeq + 1}` : `#${peer.haveSeq + 1}`;
    this.options.log(`secondary ${peer.address} attached holding ${peer.haveSeq} entries; streaming from ${from}` + (caughtUp ? '' : `; catching up to #${this.attachSeq}`));
    this.options.timeline.add('attach', `secondary ${peer.address}`);
    this.setProtection(caughtUp ? 'protected' : 'catching-up');
    return this.attachSeq;
  }

  private acked(seq: number): void {
    recordMetrics.ackReceived();
    while (this.unacked.length > 0 && this.unacked[0].lastSeq <= seq) this.unacked.shift();
    this.ackedSeq = seq;
    if (this.protection === 'catching-up' && seq >= this.attachSeq) {
      this.options.log(`secondary caught up (holds #${seq}): protected`);
      this.setProtection('protected');
    }
    this.releaseUnderLease();
    this.pump();
    this.admit();
  }

  private setProtection(protection: Protection): void {
    if (this.protection === protection) return;
    this.protection = protection;
    this.options.timeline.add(protection);
  }

  /**
   * Alone, outputs leave only while the arbiter's own lease certainly holds (etcd: 0.8 TTL after the
   * last successful keepalive was sent): past it our claim may have expired, and a restarted node may own the next epoch.
   */
  private aloneLeaseHeld(): boolean {
    return performance.now() < this.options.arbiter.releasableUntilMs();
  }

  /** The attached secondary may claim the next epoch if we fail: the arbiter records it as a member of ours. */
  private declareMember(node: string): void {
    const epoch = this.epoch;
    this.options.arbiter.declareMember(epoch, node).catch((error: unknown) => {
      this.options.log(`cannot declare the secondary ${node} a member of epoch ${epoch} (${error instanceof Error ? error.message : error}): it could not take over if this node failed`);
    });
  }

  /** A would-be secondary has followed a later epoch: someone else owns the pair now. */
  private deposed(theirToken: number): void {
    if (this.fenced) return;
    this.fence(`a secondary has followed fencing token ${theirToken}, later than this epoch's ${this.options.arbiter.tokenOf(this.epoch)}: another node owns a later epoch`);
  }

  /** True while the secondary cannot have declared us failed yet (see LEASE_FRACTION). */
  private leaseHeld(): boolean {
    const echoed = this.server.peerEchoedMs;
    return echoed !== null && performance.now() < echoed + this.options.failureTimeoutMs * LEASE_FRACTION;
  }

  /** Fenced, or waiting for a claim: nothing leaves, and no lease renewal changes that. */
  private get releaseSuspended(): boolean {
    return this.fenced || this.protection === 'arbitrating';
  }

  /** Whether an output whose entries are acknowledged (or that needs none: alone) may leave right now. */
  private mayRelease(): boolean {
    if (this.releaseSuspended) return false;
    return this.gatingOnAcks() ? !this.options.outputGate || this.leaseHeld() : this.aloneLeaseHeld();
  }

  /** Acks release outputs only under the lease; otherwise retry when a fresher heartbeat (or keepalive) may have renewed it. */
  private releaseUnderLease(): void {
    if (this.releaseSuspended) return;
    if (!this.mayRelease()) {
      this.leaseWaits++;
      this.leaseTimer ??= setTimeout(() => {
        this.leaseTimer = undefined;
        this.releaseUnderLease();
      }, Math.max(1, this.options.heartbeatIntervalMs / 2));
      return;
    }
    this.gate.ack(this.ackedSeq);
    if (this.gatingOnAcks()) this.reportReleased();
  }

  private gatingOnAcks(): boolean {
    return this.protection === 'protected' || this.protection === 'catching-up';
  }

  /**
   * Every new entry goes into the retained log and, at the next event boundary, to the secondary:
   * events run synchronously, so a microtask runs right after the event (or after all the requests
   * of a loop turn, src/http/request-batch.ts). A setImmediate here waited a whole extra loop turn
   * when the event itself ran in the check phase.
   */
  onEntry(seq: number, entry: Entry): void {
    recordMetrics.entryLogged();
    this.retained.append(seq, entry);
    this.shadow.entryLogged();
    this.replayCost.entryLogged();
    if (!this.pumpScheduled) {
      this.pumpScheduled = true;
      queueMicrotask(() => {
        this.pumpScheduled = false;
        const delayMs = this.options.channelDelayMs ?? 0;
        if (delayMs <= 0) return this.pump();
        const through = this.retained.lastSeq; // an event boundary: ship it later, as it is now
        setTimeout(() => {
          this.delayedThrough = Math.max(this.delayedThrough, through);
          this.pump();
        }, delayMs);
      });
    }
  }

  /**
   * Called at every event boundary. Node runs all ready I/O callbacks in one poll phase, so a burst
   * of requests can keep the timers (heartbeats, the batched pump) waiting for a long time; shipping
   * the log from here keeps frames flowing to the secondary, and any frame is a sign of life.
   */
  afterEvent(): void {
    // Alone too: a secondary that attaches later may hold entries it has not replayed yet (a reconnect).
    this.replayCost.eventEnded(this.retained.lastSeq);
    this.options.checkpoints?.afterLiveEvent(this.executor);
    this.dropCoveredLog();
    if ((this.options.channelDelayMs ?? 0) > 0) return;
    if (performance.now() - this.lastPumpMs >= this.options.heartbeatIntervalMs / 2) this.pump();
  }

  /** Sends what is not yet sent (up to `through`), in batches of whole events, within the in-flight window. */
  pump(through = this.shippableThrough()): void {
    if (this.fenced || !this.gatingOnAcks()) return;
    this.lastPumpMs = performance.now();
    if (this.sentThrough + 1 < this.retained.retainedFrom) {
      // The secondary fell so far behind that entries it still needs were dropped: it cannot be caught up.
      this.server.dropSecondary(`it needs entry #${this.sentThrough + 1} but this primary keeps entries only from #${this.retained.retainedFrom}`);
      return;
    }
    const replayed = this.server.peerReplayedSeq ?? this.sentThrough;
    const backlogEnd = Math.min(replayed + this.replayBacklogEntriesMax, this.replayCost.sendableThrough(replayed, this.options.replayBacklogMsMax ?? REPLAY_BACKLOG_MS_MAX));
    while (this.sentThrough < through && this.sentThrough < backlogEnd && this.server.unackedBytes < this.inflightBytesMax) {
      const entries = this.retained.chunk(this.sentThrough + 1, Math.min(BATCH_ENTRIES_MAX, through - this.sentThrough, backlogEnd - this.sentThrough), BATCH_BYTES_MAX);
      const payload = encodeBatch(this.sentThrough + 1, entries);
      if (!this.sendBatch(entries.length, payload)) return;
      this.sentThrough += entries.length;
      this.unacked.push({ lastSeq: this.sentThrough, sentMs: performance.now() });
      if (this.unacked.length > UNACKED_BATCHES_TRACKED_MAX) this.unacked.splice(1, 1); // keep the oldest: it sets lagMs
    }
  }

  /**
   * One batch to the secondary. A batch too big for a frame is an operating error, never a throw out
   * of the pump (it runs from microtasks and timers: a throw there killed the process). Entries are
   * bounded where they are made, so this should not happen; if it does, no secondary can get past
   * it, and the reason is logged with the secondary dropped.
   */
  private sendBatch(count: number, payload: Uint8Array): boolean {
    const firstSeq = this.sentThrough + 1;
    try {
      return this.server.sendBatch(firstSeq, count, payload);
    } catch (error) {
      if (!(error instanceof ChannelFrameTooLargeError)) throw error;
      const detail = `entry #${firstSeq} (a batch of ${count}) cannot be shipped: ${error.message} [${error.code}]`;
      this.options.log(`${detail}; dropping the secondary (no secondary can protect this primary past that entry)`);
      this.server.dropSecondary(detail);
      return false;
    }
  }

  /** The end of the log that may be shipped now: all of it, or with the slow-link fault injection what has aged enough. */
  private shippableThrough(): number {
    return (this.options.channelDelayMs ?? 0) > 0 ? Math.min(this.delayedThrough, this.retained.lastSeq) : this.retained.lastSeq;
  }

  /** The output gate released what acks cover: tell the secondary, so its go-live re-releases little. */
  private reportReleased(): void {
    // Coalesced: one small frame per RELEASED_REPORT_MS at most, not one per ack. A later report only
    // means a few more console lines are re-released at go-live (duplicates are allowed, losses not).
    if (this.releasedTimer) return;
    this.releasedTimer = setTimeout(() => {
      this.releasedTimer = undefined;
      const acked = this.gate.acked;
      if (acked > this.releasedReported && this.server.sendReleased(acked)) this.releasedReported = acked;
    }, RELEASED_REPORT_MS);
  }

  /** Log not yet acknowledged by the secondary (sent or not), estimated in bytes; while arbitrating too (nothing is released then). */
  get unackedLogBytes(): number {
    return this.protection === 'unprotected' ? 0 : this.retained.bytesAfter(this.ackedSeq);
  }

  /**
   * Flow control: resolves when the un-acknowledged log is under its bound (at once when alone).
   * Throws AdmissionFullError when the requests already waiting hold `admissionWaitingBytesMax`.
   */
  admission(requestBytes: number): Promise<void> | undefined {
    if (this.handover.refusingRequests) throw new SwitchingOverError();
    if (this.unackedLogBytes <= this.unackedBytesMax) return undefined;
    const boundBytes = this.options.admissionWaitingBytesMax ?? ADMISSION_WAITING_BYTES_MAX;
    if (this.admissionWaitingBytes + requestBytes > boundBytes) throw new AdmissionFullError(this.admissionWaitingBytes, boundBytes);
    this.admissionWaitingBytes += requestBytes;
    return new Promise((resolve) => this.admissionWaiters.push({ bytes: requestBytes, resolve }));
  }

  private admit(): void {
    while (this.admissionWaiters.length > 0 && this.unackedLogBytes <= this.unackedBytesMax) {
      const waiter = this.admissionWaiters.shift()!;
      this.admissionWaitingBytes -= waiter.bytes;
      waiter.resolve();
    }
  }

  /** The secondary is gone. A planned stop (bye) needs no claim; a failure does, before going on alone. */
  private async secondaryGone(reason: DetachReason, detail: string): Promise<void> {
    if (this.fenced || !this.gatingOnAcks()) return;
    if (reason === 'server-closing') return;
    if (reason === 'bye') {
      this.options.log(`secondary stopped on purpose (${detail}); going on alone, unprotected`);
      this.goOnAlone();
      return;
    }
    // Even a secondary still catching up may believe it caught up (its last ack can be in flight): claim.
    this.setProtection('arbitrating');
    clearTimeout(this.leaseTimer);
    this.leaseTimer = undefined;
    const next = this.epoch + 1;
    this.options.log(`secondary failed (${reason}: ${detail}); claiming epoch ${next}`);
    try {
      const result = await claimEpochWithin(this.options.arbiter, this.options.claimTimeoutMs ?? CLAIM_TIMEOUT_MS_DEFAULT, next, `primary pid ${process.pid}`, this.logListen ?? undefined, { asMember: true });
      if (result === 'lost') {
        this.fence(`lost the claim for epoch ${next}: the secondary went live`);
        return;
      }
    } catch (error) {
      const known = error instanceof SharedStorageError || error instanceof ClaimTimeoutError;
      this.fence(known ? `${error.message} [${error.code}]` : String(error), known ? error.exitCode : undefined);
      return;
    }
    // Our log goes on whole: whatever the failed secondary held is a prefix of it.
    this.epoch = next;
    this.lineage = this.lineage.extend(next, this.executor.lastSeq);
    const token = this.options.arbiter.tokenOf(next);
    this.server.setEpoch(next, this.lineage.forks, token);
    this.shadow.setEpoch(next, this.lineage.forks, token);
    this.options.timeline.add('claim-won', `epoch ${next}`);
    this.options.log(`won epoch ${next}; going on alone, unprotected`);
    this.goOnAlone();
  }

  private goOnAlone(): void {
    this.setProtection('unprotected');
    this.gate.openAll();
    this.admit();
  }

  /** The switchover is complete: the shadow holds the stop and goes live; this node releases nothing more and ends. */
  private async handedOver(reason: string): Promise<void> {
    this.fenced = true;
    clearTimeout(this.releasedTimer);
    clearTimeout(this.leaseTimer);
    await this.server.sendBye(reason);
    await Promise.all([this.server.close(), this.shadow.close()]);
    this.host.stop();
    this.options.timeline.add('handed-over', reason);
    if (this.options.onHandedOver) this.options.onHandedOver(reason);
    else this.options.onFenced(reason, 0);
  }

  private fence(reason: string, exitCode?: number): void {
    this.handover.dispose();
    void this.shadow.close();
    this.fenced = true;
    clearTimeout(this.releasedTimer);
    clearTimeout(this.leaseTimer);
    this.host.stop();
    this.options.timeline.add('fenced', reason);
    this.options.onFenced(reason, exitCode);
  }

  get isFenced(): boolean {
    return this.fenced;
  }

  /** Planned stop: wait (bounded) for outputs to be released, log a stop entry, say bye, release the epoch. */
  async stop(reason: string, drainMs = 2000): Promise<void> {
    const deadline = Date.now() + drainMs;
    while (this.gate.waiting > 0 && Date.now() < deadline && this.gatingOnAcks()) await new Promise((r) => setTimeout(r, 10));
    if (!this.fenced) {
      this.executor.logControl({ kind: 'stop', reason });
      this.pump();
    }
    clearTimeout(this.releasedTimer);
    clearTimeout(this.leaseTimer);
    this.handover.dispose();
    await this.server.sendBye(reason);
    await Promise.all([this.server.close(), this.shadow.close(reason)]);
    if (!this.fenced) await this.options.arbiter.update(this.epoch, { releasedAtMs: Date.now() }).catch(() => undefined);
  }

  status(): Record<string, unknown> {
    const stats = this.server.stats;
    const elapsedS = Math.max(0.001, (Date.now() - this.startedMs) / 1000);
    const gating = this.gatingOnAcks();
    const echoed = this.server.peerEchoedMs;
    return {
      epoch: this.epoch,
      protection: this.protection,
      logListen: this.logListen,
      arbiter: this.options.arbiter.describe(),
      outputGate: this.options.outputGate,
      secondary: stats.peer,
      lastSeq: this.executor.lastSeq,
      ackedSeq: stats.lastAckSeq,
      peerReplayedSeq: this.server.peerReplayedSeq,
      replayBacklogMs: gating ? Math.round(this.replayCost.backlogMs(this.server.peerReplayedSeq ?? 0)) : null,
      catchUpToSeq: this.protection === 'catching-up' ? this.attachSeq : null,
      lagEntries: gating ? this.executor.lastSeq - stats.lastAckSeq : null,
      lagMs: gating ? (this.unacked.length > 0 ? performance.now() - this.unacked[0].sentMs : 0) : null,
      leaseLeftMs: gating && echoed !== null ? Math.round(echoed + this.options.failureTimeoutMs * LEASE_FRACTION - performance.now()) : null,
      leaseWaits: this.leaseWaits,
      unackedBytes: stats.unackedBytes,
      unackedLogBytes: this.unackedLogBytes,
      outputsWaiting: this.gate.waiting,
      heartbeatRttMs: stats.rttMs,
      eventsPerS: this.executor.eventsDelivered / elapsedS,
      logBytesPerS: stats.bytesSent / elapsedS,
      logBytesSent: stats.bytesSent,
      logFramesSent: stats.framesSent,
      logFramesReceived: stats.framesReceived,
      retainedFrom: this.retained.retainedFrom,
      retainedBytes: this.retained.retainedBytes,
      ...this.options.checkpoints?.status(),
      ...this.shadow.status(),
      switchover: this.handover.state,
      timeline: this.options.timeline.firstTimes(),
      history: this.options.timeline.events(),
    };
  }
}
