// Serving as the primary of a pair: streams the log to the secondary over the channel, gates
// outputs on its acks (the output rule), applies flow control, and when the secondary fails,
// wins the claim before going on alone. Used by `lockstep primary` and by a secondary once live.
import { checkHeaderCompatible } from '../log/codec.js';
import { encodeBatch } from '../log/codec.js';
import type { Entry, LogHeader } from '../log/entries.js';
import { ChannelServer, FRAME_BYTES_MAX_DEFAULT, type DetachReason } from '../channel/channel-server.js';
import type { ChannelSecret } from '../channel/secret.js';
import type { Executor } from '../engine/executor.js';
import type { LiveHost } from '../host/live-host.js';
import { AckGate } from './output-gate.js';
import { claimEpoch } from './arbitration.js';
import { RetainedLog } from './retained-log.js';
import { SharedStorageError } from './errors.js';

export const UNACKED_BYTES_MAX = 8 * 1024 * 1024;
export const BATCH_ENTRIES_MAX = 2048;
/** How often, at most, the primary tells the secondary which outputs have certainly left. */
export const RELEASED_REPORT_MS = 10;
/** Bound on the per-batch send times kept for lagMs (flow control normally keeps far fewer). */
export const UNACKED_BATCHES_TRACKED_MAX = 100_000;

export interface PrimaryRoleOptions {
  dir: string;
  listen: { host: string; port: number };
  secret: ChannelSecret;
  header: LogHeader;
  epoch: number;
  heartbeatIntervalMs: number;
  failureTimeoutMs: number;
  frameBytesMax?: number;
  unackedBytesMax?: number;
  /** Only to show what goes wrong without the output rule. */
  outputGate: boolean;
  /** Fault injection: ship each batch this long after it was produced, like a slow logging link. */
  channelDelayMs?: number;
  /** Called when this side lost the claim: it must stop at once and release nothing more. */
  onFenced(reason: string): void;
  log(line: string): void;
}

export type Protection = 'unprotected' | 'protected' | 'arbitrating';

export class PrimaryRole {
  readonly gate = new AckGate();
  readonly server: ChannelServer;
  epoch: number;
  protection: Protection = 'unprotected';
  private sentThrough = 0;
  private pumpScheduled = false;
  private admissionWaiters: Array<() => void> = [];
  private releasedReported = 0;
  private lastPumpMs = 0;
  private releasedTimer: NodeJS.Timeout | undefined;
  /** Batches sent and not yet acknowledged, oldest first: how far behind the secondary is, in ms. */
  private unacked: Array<{ lastSeq: number; sentMs: number }> = [];
  private fenced = false;
  private readonly startedMs = Date.now();
  private readonly unackedBytesMax: number;

  constructor(
    private readonly options: PrimaryRoleOptions,
    private readonly executor: Executor,
    private readonly host: LiveHost,
    readonly retained: RetainedLog,
  ) {
    this.epoch = options.epoch;
    this.unackedBytesMax = options.unackedBytesMax ?? UNACKED_BYTES_MAX;
    this.gate.openAll(); // alone until a secondary attaches
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
      // Never undefined: an undefined here would override the server's default and lift the limit.
      frameBytesMax: options.frameBytesMax ?? FRAME_BYTES_MAX_DEFAULT,
      heartbeatIntervalMs: options.heartbeatIntervalMs,
      failureTimeoutMs: options.failureTimeoutMs,
      onAttach: (peer) => {
        if (peer.haveSeq + 1 < retained.retainedFrom) {
          options.log(`refusing secondary ${peer.address}: it needs entries from #${peer.haveSeq + 1} but this primary keeps them only from #${retained.retainedFrom}`);
          this.server.dropSecondary('log not retained');
          return;
        }
        options.log(`secondary ${peer.address} attached holding ${peer.haveSeq} entries; streaming from #${peer.haveSeq + 1}`);
        this.sentThrough = peer.haveSeq;
        this.unacked = [];
        this.protection = 'protected';
        if (options.outputGate) this.gate.regate(peer.haveSeq);
        this.pump();
      },
      onAck: (seq) => {
        while (this.unacked.length > 0 && this.unacked[0].lastSeq <= seq) this.unacked.shift();
        this.gate.ack(seq);
        this.reportReleased();
        this.admit();
      },
      onDetach: (reason, detail) => void this.secondaryGone(reason, detail),
      onRefused: (error) => options.log(`refused a would-be secondary: ${error.message} [${error.code}]`),
    });
  }

  private listenPort: number | undefined;

  async listen(): Promise<number> {
    const { port } = await this.server.listen();
    this.listenPort = port;
    return port;
  }

  /** Every new entry goes into the retained log and, at the next event boundary, to the secondary. */
  onEntry(seq: number, entry: Entry): void {
    this.retained.append(seq, entry);
    if (!this.pumpScheduled) {
      this.pumpScheduled = true;
      setImmediate(() => {
        this.pumpScheduled = false;
        const delayMs = this.options.channelDelayMs ?? 0;
        if (delayMs <= 0) return this.pump();
        const through = this.retained.lastSeq; // an event boundary: ship it later, as it is now
        setTimeout(() => this.pump(through), delayMs);
      });
    }
  }

  /**
   * Called at every event boundary. Node runs all ready I/O callbacks in one poll phase, so a burst
   * of requests can keep the timers (heartbeats, the batched pump) waiting for a long time; shipping
   * the log from here keeps frames flowing to the secondary, and any frame is a sign of life.
   */
  afterEvent(): void {
    if ((this.options.channelDelayMs ?? 0) > 0) return;
    if (performance.now() - this.lastPumpMs >= this.options.heartbeatIntervalMs / 2) this.pump();
  }

  /** Sends everything not yet sent (up to `through`), in batches of whole events. */
  pump(through = this.retained.lastSeq): void {
    if (this.fenced || this.protection !== 'protected') return;
    this.lastPumpMs = performance.now();
    while (this.sentThrough < through) {
      const entries = this.retained.chunk(this.sentThrough + 1, BATCH_ENTRIES_MAX);
      const payload = encodeBatch(this.sentThrough + 1, entries);
      if (!this.server.sendBatch(this.sentThrough + 1, entries.length, payload)) return;
      this.sentThrough += entries.length;
      this.unacked.push({ lastSeq: this.sentThrough, sentMs: performance.now() });
      if (this.unacked.length > UNACKED_BATCHES_TRACKED_MAX) this.unacked.splice(1, 1); // keep the oldest: it sets lagMs
    }
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

  /** Flow control: resolves when the un-acknowledged log is under its bound (at once when alone). */
  admission(): Promise<void> | undefined {
    if (this.protection !== 'protected' || this.server.unackedBytes <= this.unackedBytesMax) return undefined;
    return new Promise((resolve) => this.admissionWaiters.push(resolve));
  }

  private admit(): void {
    while (this.admissionWaiters.length > 0 && (this.protection !== 'protected' || this.server.unackedBytes <= this.unackedBytesMax)) {
      this.admissionWaiters.shift()!();
    }
  }

  /** The secondary is gone. A planned stop (bye) needs no claim; a failure does, before going on alone. */
  private async secondaryGone(reason: DetachReason, detail: string): Promise<void> {
    if (this.fenced || this.protection !== 'protected') return;
    if (reason === 'server-closing') return;
    if (reason === 'bye') {
      this.options.log(`secondary stopped on purpose (${detail}); going on alone, unprotected`);
      this.goOnAlone();
      return;
    }
    this.protection = 'arbitrating';
    const next = this.epoch + 1;
    this.options.log(`secondary failed (${reason}: ${detail}); claiming epoch ${next}`);
    try {
      const result = await claimEpoch(this.options.dir, next, `primary pid ${process.pid}`);
      if (result === 'lost') {
        this.fence(`lost the claim for epoch ${next}: the secondary went live`);
        return;
      }
    } catch (error) {
      this.fence(error instanceof SharedStorageError ? error.message : String(error));
      return;
    }
    this.epoch = next;
    this.server.setEpoch(next);
    this.options.log(`won epoch ${next}; going on alone, unprotected`);
    this.goOnAlone();
  }

  private goOnAlone(): void {
    this.protection = 'unprotected';
    this.gate.openAll();
    this.admit();
  }

  private fence(reason: string): void {
    this.fenced = true;
    clearTimeout(this.releasedTimer);
    this.host.stop();
    this.options.onFenced(reason);
  }

  get isFenced(): boolean {
    return this.fenced;
  }

  /** Planned stop: wait (bounded) for outputs to be released, log a stop entry, say bye. */
  async stop(reason: string, drainMs = 2000): Promise<void> {
    const deadline = Date.now() + drainMs;
    while (this.gate.waiting > 0 && Date.now() < deadline && this.protection === 'protected') await new Promise((r) => setTimeout(r, 10));
    if (!this.fenced) {
      this.executor.logControl({ kind: 'stop', reason });
      this.pump();
    }
    clearTimeout(this.releasedTimer);
    await this.server.sendBye(reason);
    await this.server.close();
  }

  status(): Record<string, unknown> {
    const stats = this.server.stats;
    const elapsedS = Math.max(0.001, (Date.now() - this.startedMs) / 1000);
    return {
      epoch: this.epoch,
      protection: this.protection,
      logListen: this.listenPort === undefined ? null : `${this.options.listen.host}:${this.listenPort}`,
      outputGate: this.options.outputGate,
      secondary: stats.peer,
      lastSeq: this.executor.lastSeq,
      ackedSeq: stats.lastAckSeq,
      lagEntries: this.protection === 'protected' ? this.executor.lastSeq - stats.lastAckSeq : null,
      lagMs: this.protection === 'protected' ? (this.unacked.length > 0 ? performance.now() - this.unacked[0].sentMs : 0) : null,
      unackedBytes: stats.unackedBytes,
      outputsWaiting: this.gate.waiting,
      heartbeatRttMs: stats.rttMs,
      eventsPerS: this.executor.eventsDelivered / elapsedS,
      logBytesPerS: stats.bytesSent / elapsedS,
      logBytesSent: stats.bytesSent,
      retainedFrom: this.retained.retainedFrom,
    };
  }
}
