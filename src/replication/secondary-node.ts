// `lockstep secondary`: follows a primary over the logging channel, replaying every entry as it
// arrives (acks go out on receipt) with its outputs suppressed. A fresh secondary (or one that fell
// too far behind) is given the primary's newest checkpoint first and replays on from there; it takes
// its own checkpoint wherever the log has one, so once live it re-protects itself the same way.
// It is an explicit state machine:
//
//   connecting -> catching-up <-> following -> going-live -> live
//        ^             |                          |-> fenced   (lost the claim: exit 10)
//        '-------------'                          |-> diverged (replay diverged: exit 3, never live)
//   (primary failed while catching up:            '-> stopped  (shared storage unreachable: exit 11)
//    it holds only a prefix and never goes live)
//
// A lost connection is not a failed primary: it reconnects, and declares the primary failed only
// after failureTimeoutMs with no authenticated frame. Each welcome sets the entry it must hold
// before it may go live; a welcome from a later epoch whose log does not continue what it holds
// (replication/lineage.ts) makes it start fresh from the primary's newest checkpoint.
//
// Going live is one function, `goLive`, whose order is the safety argument: stop the channel (what
// was received is final) -> replay all of it (a divergence stops here) -> win the claim -> switch
// the shim to live -> release uncertain outputs -> serve. Until live it answers HTTP with 503.
import { performance } from 'node:perf_hooks';
import { ChannelClient } from '../channel/channel-client.js';
import { FAILURE_TIMEOUT_MS_DEFAULT, FRAME_BYTES_MAX_DEFAULT, HEARTBEAT_INTERVAL_MS_DEFAULT } from '../channel/channel-server.js';
import type { Welcome } from '../channel/messages.js';
import { EntryQueue } from '../engine/entry-queue.js';
import { Executor, type ExecutorHooks, type Output, type WorldActions } from '../engine/executor.js';
import { DivergenceError, LockstepError, UsageError } from '../errors.js';
import { findLiveOwner, where } from './ownership.js';
import { LiveHost } from '../host/live-host.js';
import { requestBytes } from '../http/incoming-request.js';
import { startServiceServer, type ServiceServer } from '../http/service-server.js';
import { checkHeaderCompatible, decodeBatch } from '../log/codec.js';
import { claimEpochWithin, CLAIM_TIMEOUT_MS_DEFAULT } from './claim-deadline.js';
import { takeEpochData } from './epoch-data.js';
import { ClaimTimeoutError, LineageChangedError, ReplicaError, SharedStorageError } from './errors.js';
import { FileReplica } from './file-replica.js';
import { REPLICA_FILES_BYTES_MAX_DEFAULT, unpackFiles } from './files-archive.js';
import { REPLICA } from '../channel/messages.js';
import { FENCED_EXIT_CODE, nodeCheckpoints, preparePairNode, roleOptionsFrom, type PairOptions, type RunningNode } from './pair-node.js';
import { restoreCheckpoint } from '../checkpoint/checkpoint.js';
import type { NodeCheckpoints } from '../checkpoint/node-checkpoints.js';
import { PrimaryRole } from './primary-role.js';
import { RetainedLog, RETAINED_BYTES_MAX, RETAINED_ENTRIES_MAX } from './retained-log.js';
import { Timeline } from './timeline.js';
import { Lineage } from './lineage.js';
import { assert } from '../assert.js';

export interface SecondaryOptions extends PairOptions {
  primaryUrl: string;
  /** false (--no-rejoin): a welcome whose log does not continue ours stops this node (exit 13) instead of starting it fresh. */
  rejoin?: boolean;
  /** Where this node serves its own logging channel once live, for a fresh secondary. */
  logListen: { host: string; port: number };
  /** Where the go-live timeline is reported (for the demo). */
  onTimeline?: (event: string, atMs: number) => void;
}

export type SecondaryState = 'connecting' | 'catching-up' | 'following' | 'going-live' | 'live' | 'fenced' | 'diverged' | 'stopped';

const TRANSITIONS: Record<SecondaryState, readonly SecondaryState[]> = {
  connecting: ['catching-up', 'following', 'diverged', 'stopped'],
  'catching-up': ['following', 'connecting', 'diverged', 'stopped'],
  following: ['catching-up', 'connecting', 'going-live', 'diverged', 'stopped'],
  'going-live': ['live', 'fenced', 'diverged', 'stopped'],
  live: ['fenced', 'stopped'],
  fenced: [],
  diverged: [],
  stopped: [],
};

/** How often a secondary without a primary asks the arbiter who owns the current epoch. */
export const OWNER_LOOKUP_MS = 2000;

/** Console lines whose release the primary had not confirmed are re-released at go-live; bounded. */
export const UNCERTAIN_OUTPUTS_MAX = 100_000;

/** Longest stretch of replay without yielding to the event loop (heartbeats, acks, status). */
export const REPLAY_SLICE_MS = 20;
/** Replay progress is reported to the primary (besides with every ack) once it moved on this many entries... */
export const REPLAY_REPORT_ENTRIES = 512;
/** ...or this long after the last report (CPU-heavy events: the primary bounds the backlog in replay time). */
export const REPLAY_REPORT_MS = 20;
/**
 * With nothing left to replay, progress goes out this long after the slice unless an ack carried it
 * first. Under load the next batch's ack (on receipt) carries it anyway; a report after every slice
 * cost a second sealed frame per batch (5% of a secondary's CPU under the trivial bench, 10% of its
 * busy time). The delay matters only when the primary holds entries back on our backlog.
 */
export const REPLAY_REPORT_IDLE_MS = 2;

/** Fault injection for tests and experiments: damage every check digest received, as a corrupted log would be. */
const CORRUPT_CHECKS = process.env.LOCKSTEP_FAULT_CORRUPT_CHECKS === '1';
/** Fault injection: change the replayer's guest heap once, silently (nothing it answers changes), as a nondeterminism bug would. */
const PERTURB_STATE = process.env.LOCKSTEP_FAULT_PERTURB_STATE === '1';
/** Fault injection: a replayer this many ms slower per entry than the primary (a slower host), to exercise the backlog bound. */
const SLOW_REPLAY_MS = Number(process.env.LOCKSTEP_FAULT_SLOW_REPLAY_MS ?? 0);

type Prepared = Awaited<ReturnType<typeof preparePairNode>>;

export class SecondaryNode {
  state: SecondaryState = 'connecting';
  /** Replaced (with the queue) when the primary gives a checkpoint: what we hold then starts after it. */
  private retained: RetainedLog;
  private queue = new EntryQueue();
  private readonly checkpoints: NodeCheckpoints;
  /** Bumped at each checkpoint received: a boot or restore of an earlier one is discarded when it ends. */
  private generation = 0;
  /** The seq of the checkpoint this node was restored from (0: it replayed from #1). */
  private restoredFromSeq = 0;
  private reportedReplayedSeq = 0;
  private reportedAtMs = 0;
  private readonly timeline: Timeline;
  private readonly client: ChannelClient;
  private executor: Executor | undefined;
  private booting: Promise<void> | undefined;
  /** Exists once live: the real world, and the primary role over it. */
  private host: LiveHost | undefined;
  private role: PrimaryRole | undefined;
  private service: ServiceServer | undefined;
  private epoch = 0;
  /** The lineage of the log we follow, from the last welcome. */
  private lineage = Lineage.startingAt(0);
  /** Looks up the arbiter's current owner while this node has no primary (see followOwnerIfElsewhere). */
  private ownerLookup: NodeJS.Timeout | undefined;
  private lookingForOwner = false;
  /** The primary's epoch was found in our arbiter (same etcd, same prefix). */
  private arbiterChecked = false;
  /** The highest fencing token we have followed: a primary welcoming us with a lower one is deposed. */
  private token = 0;
  /** Our own copy of the guest's files, when nothing is shared on disk (the etcd arbiter). */
  private readonly replica: FileReplica | undefined;
  /** The primary's last entry when we attached: we may go live only once we hold it. */
  private catchUpToSeq = Infinity;
  private releasedSeq = 0;
  private uncertain: Output[] = [];
  private uncertainDropped = 0;
  private primaryStoppedOnPurpose = false;
  private replayScheduled = false;
  private idleReport: NodeJS.Timeout | undefined;
  private stopping = false;
  private readonly startedMs = Date.now();
  private finish!: (code: number) => void;
  readonly done = new Promise<number>((resolve) => (this.finish = resolve));
  private readonly heartbeatIntervalMs: number;
  private readonly failureTimeoutMs: number;

  constructor(
    private readonly options: SecondaryOptions,
    private readonly prepared: Prepared,
    private readonly log: (line: string) => void,
  ) {
    this.retained = new RetainedLog(RETAINED_ENTRIES_MAX, options.retainedBytesMax ?? RETAINED_BYTES_MAX);
    this.checkpoints = nodeCheckpoints(options, prepared, () => this.retained, log);
    this.heartbeatIntervalMs = options.heartbeatIntervalMs ?? HEARTBEAT_INTERVAL_MS_DEFAULT;
    this.failureTimeoutMs = options.failureTimeoutMs ?? FAILURE_TIMEOUT_MS_DEFAULT;
    this.timeline = new Timeline((e) => options.onTimeline?.(e.event, e.atMs));
    this.replica = prepared.replicaFiles ? new FileReplica(options.dir) : undefined;
    this.client = new ChannelClient({
      url: options.primaryUrl,
      secret: prepared.secret,
      header: prepared.header,
      compatible: (mine, theirs) => checkHeaderCompatible(mine, theirs),
      haveSeq: () => this.retained.lastSeq,
      replayedSeq: () => this.executor?.lastSeq ?? 0,
      checkpointBytesMax: this.checkpoints.bytesMax,
      onCheckpoint: (seq, bytes) => this.restoreFrom(seq, bytes),
      token: () => this.token,
      node: prepared.node,
      replica: () => (!this.replica ? REPLICA.none : this.replica.state === 'have' ? REPLICA.have : REPLICA.need),
      onFiles: this.replica ? (archive) => this.filesReceived(archive) : undefined,
      filesBytesMax: options.replicaBytesMax ?? REPLICA_FILES_BYTES_MAX_DEFAULT,
      heartbeatIntervalMs: this.heartbeatIntervalMs,
      failureTimeoutMs: this.failureTimeoutMs,
      frameBytesMax: options.frameBytesMax ?? FRAME_BYTES_MAX_DEFAULT, // undefined would lift the client's limit
      onConnected: (welcome) => this.welcomed(welcome),
      onBatch: (firstSeq, count, payload) => this.received(firstSeq, count, payload),
      onReleased: (seq) => this.primaryReleased(seq),
      onBye: (reason) => this.stopWith(0, `the primary stopped on purpose (${reason}); not going live`),
      onPeerSilent: () => this.primaryFailed(`no authenticated frame for ${this.failureTimeoutMs} ms`),
      onDisconnected: () => this.log(`the logging connection closed; reconnecting (the primary is declared failed only after ${this.failureTimeoutMs} ms without an authenticated frame)`),
      onRefused: (code, message, final) => this.refused(code, message, final),
      onFrameRefused: (error) => this.log(`refused a frame from the primary: ${error.message} [${error.code}]`),
      onError: (error) => this.stopWith(error.exitCode, `logging channel failed: ${error.message} [${error.code}]`),
    });
  }

  private transition(to: SecondaryState): void {
    assert(TRANSITIONS[this.state].includes(to), `secondary: no transition from ${this.state} to ${to}`);
    this.state = to;
  }

  async start(): Promise<void> {
    const { options } = this;
    this.service = await startServiceServer(
      { host: options.host ?? '127.0.0.1', port: options.port, bodyBytesMax: options.bodyBytesMax },
      {
        role: () => (this.state === 'live' ? (this.role?.isFenced ? 'fenced' : 'primary') : this.state === 'fenced' ? 'fenced' : 'secondary'),
        handle: async (request, abandoned) => {
          assert(this.role && this.host, 'requests reach a secondary only once live');
          const wait = this.role.admission(requestBytes(request));
          if (wait) await wait;
          return this.host.handleRequest(request, abandoned);
        },
        status: () => this.status(),
        epoch: () => (this.state === 'live' && this.role ? this.role.epoch : this.epoch),
      },
    );
    this.client.start();
    this.log(`secondary of ${this.prepared.program.name} on http://${options.host ?? '127.0.0.1'}:${this.service.port}, following ${options.primaryUrl}`);
    this.ownerLookup = setInterval(() => void this.followOwnerIfElsewhere(), OWNER_LOOKUP_MS);
    this.ownerLookup.unref();
  }

  /**
   * While it has no primary (at start, or after its primary failed while it could not take over),
   * a secondary follows whichever node owns the current epoch in the arbiter, if that is not the
   * one it tries: its --primary may be dead for good, or a secondary itself by now (a restarted
   * node's command names the primary of its first life). Safe: a welcome from another lineage makes it start afresh.
   */
  private async followOwnerIfElsewhere(): Promise<void> {
    if (this.state !== 'connecting' || this.stopping || this.lookingForOwner) return;
    this.lookingForOwner = true;
    try {
      const owner = await findLiveOwner(this.prepared.arbiter, 0).catch(() => undefined);
      if (!owner || owner.primaryUrl === this.client.url || this.state !== 'connecting') return;
      this.log(`${where(this.prepared.arbiter)} names the node at ${owner.primaryUrl} owner of epoch ${owner.epoch}, and ${this.client.url} does not take us: following it`);
      this.timeline.add('follow-owner', owner.primaryUrl);
      this.client.retarget(owner.primaryUrl);
    } finally {
      this.lookingForOwner = false;
    }
  }

  get port(): number {
    return this.service?.port ?? 0;
  }

  // ---- following ----------------------------------------------------------------------------

  /**
   * Every (re)attach: the primary gates its outputs from the welcome's lastSeq on, so that is the
   * entry we must hold before we may go live, whatever we held before.
   */
  private welcomed(welcome: Welcome): void {
    if (welcome.epoch < this.epoch || welcome.token < this.token) {
      // A deposed primary (a later epoch has an owner): acking it would let it release beside that owner.
      return this.client.reconnect(`the primary at ${this.options.primaryUrl} is in epoch ${welcome.epoch} (token ${welcome.token}), older than epoch ${this.epoch} (token ${this.token}) we followed`);
    }
    const lineage = Lineage.of(welcome.forks);
    if (!lineage.continues(this.epoch, this.retained.lastSeq, welcome.epoch)) return this.lineageChanged(welcome.epoch);
    this.epoch = welcome.epoch;
    this.token = welcome.token;
    this.lineage = lineage;
    if (!this.arbiterChecked) void this.checkSameArbiter(welcome.epoch);
    this.catchUpToSeq = welcome.lastSeq;
    this.log(`following ${this.options.primaryUrl} (epoch ${this.epoch}) from entry #${welcome.startSeq}` + (this.caughtUp ? '' : `, catching up to #${welcome.lastSeq}`));
    this.moveTo(this.caughtUp ? 'following' : 'catching-up');
  }

  /**
   * The primary's epoch must be one our arbiter knows: a secondary given another etcd or another
   * --arbiter-prefix than its primary could never win a claim there (it is no member), so it says so
   * at once instead of at the failover.
   */
  private async checkSameArbiter(epoch: number): Promise<void> {
    this.arbiterChecked = true;
    let current: number;
    try {
      current = (await this.prepared.arbiter.current()).epoch;
    } catch {
      this.arbiterChecked = false; // unreachable now: checked at the next welcome
      return;
    }
    if (current >= epoch) return;
    const error = new UsageError(
      `The primary at ${this.options.primaryUrl} is in epoch ${epoch}, but ${where(this.prepared.arbiter)} knows epochs up to ${current} only: ` +
        'this secondary could never take over there. Give both nodes the same --arbiter and --arbiter-prefix.',
    );
    this.stopWith(error.exitCode, `${error.message} [${error.code}]`);
  }

  /** What we hold came from another owner's log: continuing from it could splice two runs. */
  private lineageChanged(epoch: number): void {
    const error = new LineageChangedError(this.epoch, epoch, this.retained.lastSeq);
    if (this.options.rejoin === false) return this.stopWith(error.exitCode, `${error.message} [${error.code}]`);
    this.log(`${error.message.split(':')[0]}, and that log does not continue ours: dropping what we hold and joining again from the primary's newest state`);
    this.timeline.add('rejoin', `epoch ${epoch}`);
    this.replica?.invalidate();
    this.generation++;
    this.executor?.dispose();
    this.executor = undefined;
    this.booting = undefined;
    this.retained = new RetainedLog(RETAINED_ENTRIES_MAX, this.options.retainedBytesMax ?? RETAINED_BYTES_MAX);
    this.queue = new EntryQueue();
    this.uncertain = [];
    this.primaryStoppedOnPurpose = false;
    this.restoredFromSeq = 0;
    this.reportedReplayedSeq = 0;
    this.releasedSeq = 0;
    this.catchUpToSeq = Infinity;
    this.moveTo('connecting');
    this.client.reconnect('starting fresh: our log does not continue the primary\'s');
  }

  private moveTo(state: 'connecting' | 'catching-up' | 'following'): void {
    if (this.state === state) return;
    this.transition(state);
    this.timeline.add(state);
  }

  private get caughtUp(): boolean {
    return this.retained.lastSeq >= this.catchUpToSeq;
  }

  private received(firstSeq: number, count: number, payload: Uint8Array): void {
    const batch = decodeBatch(payload);
    assert(batch.firstSeq === firstSeq && batch.entries.length === count, 'batch frame and payload disagree');
    if (CORRUPT_CHECKS) for (const entry of batch.entries) if (entry.kind === 'check') entry.digest = `corrupt-${entry.digest}`;
    for (let i = 0; i < count; i++) this.retained.append(firstSeq + i, batch.entries[i]);
    this.queue.push(firstSeq, batch.entries);
    this.noteCaughtUp();
    // Replay after this returns: the channel acks on receipt, and the primary's outputs wait on it.
    this.scheduleReplay();
  }

  private noteCaughtUp(): void {
    if (this.state !== 'catching-up' || !this.caughtUp) return;
    this.log(`caught up: holding #${this.retained.lastSeq} (the primary's last entry at attach was #${this.catchUpToSeq})`);
    this.moveTo('following');
  }

  /**
   * The primary gave the checkpoint of the state after #seq: it replaces whatever we held (log,
   * replayer, uncertain outputs). The channel acks nothing until this resolves; if the restore
   * fails, this node stops (it could never go live).
   */
  private restoreFrom(seq: number, bytes: Uint8Array): Promise<void> {
    const generation = ++this.generation;
    this.executor?.dispose();
    this.executor = undefined;
    this.retained = new RetainedLog(RETAINED_ENTRIES_MAX, this.options.retainedBytesMax ?? RETAINED_BYTES_MAX, seq + 1);
    this.queue = new EntryQueue(seq + 1);
    this.uncertain = [];
    this.primaryStoppedOnPurpose = false;
    this.restoredFromSeq = seq;
    this.reportedReplayedSeq = seq;
    this.log(`received the primary's checkpoint of the state after #${seq} (${bytes.length} bytes); restoring it`);
    this.timeline.add('checkpoint-received', `after #${seq}`);
    const { program } = this.prepared;
    const restoring = restoreCheckpoint(bytes, program, this.executorOptions(), this.queue, { source: `the checkpoint from ${this.options.primaryUrl}` }).then(({ executor }) => {
      if (generation !== this.generation) return executor.dispose();
      this.executor = executor;
      this.checkpoints.adopt(bytes);
      this.log(`restored the checkpoint after #${seq}; replaying on from #${seq + 1}`);
      this.noteCaughtUp();
      this.scheduleReplay();
    });
    this.booting = restoring.catch((error) => {
      if (generation === this.generation) this.replayFailed(error);
    });
    return restoring;
  }

  private executorOptions() {
    const { program, limits } = this.prepared;
    return { source: program.source, programName: program.name, limits, hooks: this.hooks() };
  }

  /** A refusal the client retries is only logged; a final one stops this secondary (nobody takes it). */
  private refused(code: string, message: string, final: boolean): void {
    if (!final) return this.log(`refused by the primary: ${message} [${code}] (retrying)`);
    // Found through etcd, a "primary" of another program or secret is most likely another pair on the same prefix.
    const prefix = this.prepared.arbiter.describe().prefix;
    const hint = prefix !== undefined && (code === 'LOCKSTEP_CHANNEL_INCOMPATIBLE' || code === 'LOCKSTEP_CHANNEL_AUTH') ? ` If that node belongs to another pair, give each pair its own --arbiter-prefix (this one uses '${String(prefix)}').` : '';
    this.stopWith(1, `refused by the primary: ${message} [${code}]; the refusal is final, so this secondary stops.${hint}`);
  }

  /** The primary's guest files (digest checked), as of the state we start from: our replica starts there. */
  private filesReceived(archive: Uint8Array): void {
    let files;
    try {
      files = unpackFiles(archive);
    } catch (error) {
      return this.replayFailed(error);
    }
    this.log(`received the primary's guest files (${files.length} files, ${archive.length} bytes); our replica starts from them`);
    this.timeline.add('files-received', `${files.length} files`);
    this.replica!.install(files);
  }

  private primaryReleased(seq: number): void {
    this.releasedSeq = Math.max(this.releasedSeq, seq);
    if (this.uncertain.length > 0 && this.uncertain[0].gateSeq <= this.releasedSeq) this.uncertain = this.uncertain.filter((o) => o.gateSeq > this.releasedSeq);
  }

  /** The executor's hooks: until live, outputs are suppressed (uncertain console lines kept); then they go to the host. */
  private hooks(): ExecutorHooks {
    const actions: WorldActions = {
      armTimer: (timerId, dueMs) => this.host!.armTimer(timerId, dueMs),
      clearTimer: (timerId) => this.host!.clearTimer(timerId),
      startRead: (opId, path) => this.host!.startRead(opId, path),
    };
    return {
      onEntry: (seq, entry) => {
        // Only once live: the new primary logs its own entries, numbered on from the replayed ones.
        assert(this.role, 'a secondary logs entries only once live');
        this.role.onEntry(seq, entry);
      },
      onOutput: (output) => {
        if (this.state === 'live') return this.host!.hooks().onOutput(output);
        // Replay: suppressed. Console lines the primary may not have released are kept for go-live;
        // answers live on in the idempotency store, and writes in the executor's pending writes.
        if (output.effect.type !== 'console' || output.gateSeq <= this.releasedSeq) return;
        this.uncertain.push(output);
        if (this.uncertain.length > UNCERTAIN_OUTPUTS_MAX) {
          this.uncertain.shift();
          this.uncertainDropped++;
        }
      },
      actions,
      // Our own disk (nothing shared): every write the log says completed, in log order.
      onWriteReplayed: this.replica ? (write) => this.replica!.apply(write) : undefined,
    };
  }

  // Catching up on a long log must not block the event loop: heartbeats and acks would stop and
  // the primary would declare this secondary failed. Replay in slices, yielding between them;
  // only go-live replays everything at once.
  private scheduleReplay(): void {
    if (this.replayScheduled) return;
    this.replayScheduled = true;
    setImmediate(() => {
      this.replayScheduled = false;
      this.replaySlice();
    });
  }

  private bootReplay(): void {
    if (this.booting || this.queue.pending === 0) return;
    const generation = this.generation;
    this.booting = Executor.bootReplay(this.executorOptions(), this.queue).then(
      (booted) => {
        if (generation !== this.generation) return booted.dispose();
        this.executor = booted;
        if (PERTURB_STATE) booted.injectSilentDivergence();
        this.scheduleReplay();
      },
      (error) => {
        if (generation === this.generation) this.replayFailed(error);
      },
    );
  }

  private replaySlice(): void {
    if (this.state !== 'catching-up' && this.state !== 'following') return;
    if (!this.executor) return this.bootReplay();
    const sliceEndMs = performance.now() + REPLAY_SLICE_MS;
    if (!this.replay(() => performance.now() < sliceEndMs)) return;
    this.afterReplaySlice();
    if (this.queue.pending > 0) this.scheduleReplay();
  }

  /** Drops the log our newest checkpoint covers, and tells the primary how far we are when that moved on a lot. */
  private afterReplaySlice(): void {
    const newest = this.checkpoints.newest;
    if (newest && newest.seq >= this.retained.retainedFrom) this.retained.dropThrough(newest.seq);
    const replayed = this.executor!.lastSeq;
    // Acks carry it too; this matters only while the primary may be holding back on our backlog.
    // Also whenever it has nothing left to replay: the primary may be holding the next event back until it hears.
    const idle = this.queue.pending === 0;
    const moved = replayed - this.reportedReplayedSeq;
    const due = moved >= REPLAY_REPORT_ENTRIES || (moved > 0 && performance.now() - this.reportedAtMs >= REPLAY_REPORT_MS);
    if (due) return this.reportReplayed();
    if (idle && moved > 0 && !this.idleReport) this.idleReport = setTimeout(() => this.reportReplayed(), REPLAY_REPORT_IDLE_MS);
  }

  /** The client sends it only if no ack since carried this far (acks carry how far we replayed). */
  private reportReplayed(): void {
    clearTimeout(this.idleReport);
    this.idleReport = undefined;
    if (!this.executor || (this.state !== 'catching-up' && this.state !== 'following')) return;
    this.reportedReplayedSeq = this.executor.lastSeq;
    this.reportedAtMs = performance.now();
    this.client.reportReplayed();
  }

  /** Replays while `more()` says so and entries remain. False if replay failed (the node stopped). */
  private replay(more: () => boolean): boolean {
    const executor = this.executor!;
    try {
      for (let entry = executor.replayNext(); entry; entry = more() ? executor.replayNext() : undefined) {
        if (SLOW_REPLAY_MS > 0) busyWait(SLOW_REPLAY_MS);
        if (entry.kind === 'stop') {
          this.primaryStoppedOnPurpose = true;
          this.log(`the primary logged a planned stop (${entry.reason})`);
        }
        // The digest there was just verified: this state is the primary's, and worth keeping.
        if (entry.kind === 'checkpoint') this.checkpoints.afterReplayedCheckpoint(executor);
      }
      return true;
    } catch (error) {
      this.replayFailed(error);
      return false;
    }
  }

  private replayFailed(error: unknown): void {
    if (error instanceof DivergenceError) {
      this.transition('diverged');
      this.timeline.add('diverged', error.message);
      this.stopWith(error.exitCode, `DIVERGED: ${error.message} This secondary cannot take over; it stops. [${error.code}]`);
      return;
    }
    if (error instanceof LockstepError) return this.stopWith(error.exitCode, `cannot replay: ${error.message} [${error.code}]`);
    throw error;
  }

  // ---- failure of the primary and go-live ----------------------------------------------------

  private primaryFailed(reason: string): void {
    if (this.state === 'catching-up') {
      this.log(
        `primary failed (${reason}) while this secondary was catching up (holds #${this.retained.lastSeq} of #${this.catchUpToSeq}): ` +
          'it lacks entries whose answers clients may have, so it must not take over; waiting for a primary',
      );
      this.timeline.add('cannot-take-over', `holds #${this.retained.lastSeq} of #${this.catchUpToSeq}`);
      this.moveTo('connecting');
      return;
    }
    if (this.state === 'following') void this.goLive(reason);
  }

  /** The one go-live transition. Its order is the safety argument (see the top of this file). */
  private async goLive(reason: string): Promise<void> {
    this.transition('going-live');
    this.timeline.add('failure-detected', reason);
    // 0. Nothing more arrives and no ack leaves: what we received is final.
    this.client.fence();
    this.log(`primary failed (${reason}); replaying all ${this.retained.lastSeq} entries received before claiming epoch ${this.epoch + 1}`);
    // 1. Replay every entry received; a divergence stops the node for good (it never goes live). A young
    // pair's first batch may not have booted the replayer yet: boot it now (a no-op once it has).
    this.bootReplay();
    await this.booting;
    if (this.state !== 'going-live') return;
    if (!this.executor) return this.stopWith(1, 'the primary failed before this secondary received any entry: nothing to go live on');
    if (!this.replay(() => true)) return;
    if (this.primaryStoppedOnPurpose) return this.stopWith(0, 'the primary had stopped on purpose; not going live');
    // 2. Win the claim for the next epoch.
    if (!(await this.claimNextEpoch())) return;
    // 3. Switch the shim to live, on this epoch's own copy of the guest files (storage fencing).
    const executor = this.executor!;
    this.epoch += 1;
    let dataDir: string;
    try {
      // Our replica holds every write whose completion we replayed, on disk, before it becomes the epoch's files.
      await this.replica?.flush();
      dataDir = await takeEpochData(this.options.dir, this.epoch);
    } catch (error) {
      const storage = error as SharedStorageError | ReplicaError;
      return this.stopWith(storage.exitCode ?? 1, `${storage.message} Not going live.`);
    }
    this.host = LiveHost.forExecutor({ dir: this.options.dir, dataDir, onConsole: this.options.onConsole }, executor);
    this.role = this.newRole(executor, this.host);
    this.transition('live');
    const { writes } = executor.goLive();
    for (const [opId, write] of writes) this.host.performWrite(opId, write.path, write.data);
    // 4. Release the outputs whose release is uncertain (duplicates are allowed, losses are not).
    this.releaseUncertain();
    // 5. Serve (the service port answers as primary from now on), 6. with a log for a fresh secondary.
    this.timeline.add('live', `epoch ${this.epoch}`);
    let logPort: number;
    try {
      logPort = await this.role.listen();
    } catch (error) {
      // The port was chosen at start and may be taken by now. This node holds the epoch and may have
      // answered: dying here would leave the epoch to no one (a restart would be refused). Serve on.
      const why = error instanceof LockstepError ? `${error.message} [${error.code}]` : String(error);
      return this.log(`LIVE as primary of epoch ${this.epoch} after replaying ${executor.lastSeq} entries, serving unprotected: ${why} No fresh secondary can attach until this node is restarted with a free --log-listen.`);
    }
    this.log(`LIVE as primary of epoch ${this.epoch} after replaying ${executor.lastSeq} entries; logging channel on ${this.options.logListen.host}:${logPort}`);
  }

  private async claimNextEpoch(): Promise<boolean> {
    const next = this.epoch + 1;
    try {
      const result = await claimEpochWithin(this.prepared.arbiter, this.options.claimTimeoutMs ?? CLAIM_TIMEOUT_MS_DEFAULT, next, `secondary pid ${process.pid}`, undefined, { asMember: true });
      if (result === 'won') {
        this.timeline.add('claim-won', `epoch ${next}`);
        return true;
      }
      this.transition('fenced');
      this.timeline.add('fenced', `lost the claim for epoch ${next}`);
      this.stopWith(FENCED_EXIT_CODE, `FENCED: lost the claim for epoch ${next}: the primary went on alone. This node stops.`);
    } catch (error) {
      const code = error instanceof SharedStorageError || error instanceof ClaimTimeoutError ? error.exitCode : 1;
      this.stopWith(code, `${error instanceof Error ? error.message : error} Not going live.`);
    }
    return false;
  }

  private newRole(executor: Executor, host: LiveHost): PrimaryRole {
    const { options, prepared } = this;
    return new PrimaryRole(
      {
        ...roleOptionsFrom(options, prepared),
        epoch: this.epoch,
        // Our log goes on from everything we replayed.
        lineage: this.lineage.extend(this.epoch, executor.lastSeq),
        checkpoints: this.checkpoints,
        outputGate: true,
        timeline: this.timeline,
        onFenced: (why, exitCode) => {
          this.transition('fenced');
          this.stopWith(exitCode ?? FENCED_EXIT_CODE, `FENCED: ${why}. This node stops now and releases nothing more.`);
        },
        onHandedOver: (why) => this.stopWith(0, `${why}: this node stops (exit 0); it runs the old program, so it cannot follow the new primary.`),
        log: this.log,
      },
      executor,
      host,
      this.retained,
    );
  }

  private releaseUncertain(): void {
    for (const output of this.uncertain) if (output.gateSeq > this.releasedSeq) this.host!.release(output);
    if (this.uncertainDropped > 0) this.log(`warning: ${this.uncertainDropped} uncertain console lines were beyond the bound and are not re-released`);
    this.uncertain = [];
  }

  // ---- stopping -------------------------------------------------------------------------------

  /** Ends the node with `code`: every listener closes, so the process exits. */
  private stopWith(code: number, message: string): void {
    if (this.state === 'stopped' || this.stopping) return;
    this.stopping = true;
    clearInterval(this.ownerLookup);
    this.log(message);
    if (this.state !== 'fenced' && this.state !== 'diverged') this.transition('stopped');
    this.host?.stop();
    clearTimeout(this.idleReport);
    this.generation++; // a boot or restore still running disposes what it made
    // Done once everything it held is released, so a rejoin in this process can take the same ports.
    void Promise.allSettled([this.client.stop(), this.service?.close(), this.role?.server.close()]).then(() => {
      this.executor?.dispose();
      this.executor = undefined;
      this.finish(code);
    });
  }

  /** Planned stop (SIGTERM): a live node logs a stop entry and releases its epoch; a follower says bye. */
  async stop(reason: string): Promise<void> {
    clearInterval(this.ownerLookup);
    if (this.state === 'live' && this.role) {
      await this.service?.close();
      await this.role.stop(reason);
      this.host?.stop();
      this.state = 'stopped';
      this.finish(0);
      return;
    }
    if (this.state === 'stopped' || this.state === 'fenced' || this.state === 'diverged') return;
    this.transition('stopped');
    await this.client.stop(reason);
    await this.service?.close();
    this.finish(0);
  }

  status(): Record<string, unknown> {
    const base = { program: this.prepared.program.name, uptimeMs: Date.now() - this.startedMs, state: this.state, timeline: this.timeline.firstTimes(), history: this.timeline.events() };
    if (this.state === 'live' && this.role) {
      return { role: this.role.isFenced ? 'fenced' : 'primary', promotedFromSecondary: true, events: this.executor?.eventsDelivered ?? 0, ...this.role.status(), ...base };
    }
    const stats = this.client.stats;
    const replayedSeq = this.executor?.lastSeq ?? 0;
    return {
      role: this.state === 'fenced' || this.state === 'diverged' || this.state === 'stopped' ? this.state : 'secondary',
      ...base,
      epoch: this.epoch,
      primary: this.options.primaryUrl,
      connected: this.client.state === 'connected',
      caughtUp: this.caughtUp,
      catchUpToSeq: Number.isFinite(this.catchUpToSeq) ? this.catchUpToSeq : null,
      receivedSeq: this.retained.lastSeq,
      ackedSeq: stats.lastAckSeq,
      replayedSeq,
      lagEntries: this.retained.lastSeq - replayedSeq,
      restoredFromSeq: this.restoredFromSeq,
      retainedFrom: this.retained.retainedFrom,
      ...this.checkpoints.status(),
      releasedSeq: this.releasedSeq,
      uncertainOutputs: this.uncertain.length,
      heartbeatRttMs: stats.rttMs,
      logBytesReceived: stats.bytesReceived,
      events: this.executor?.eventsDelivered ?? 0,
      token: this.token,
      arbiter: this.prepared.arbiter.describe(),
      ...this.replica?.status(),
    };
  }
}

function busyWait(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

export async function startSecondary(options: SecondaryOptions): Promise<RunningNode> {
  const log = options.log ?? ((line: string) => process.stderr.write(`[secondary] ${line}\n`));
  const node = new SecondaryNode(options, await preparePairNode(options), log);
  await node.start();
  return { port: node.port, done: node.done, status: () => node.status(), stop: (reason) => node.stop(reason) };
}
