// The deterministic core of a node: the guest plus the host-side state that evolves with it
// (timers, disk operations, the idempotency store, the output digest). It runs in one of two
// modes over the same code path: 'live' (inputs from the world, entries written to the log) or
// 'replay' (inputs and values from the log). `goLive()` is the explicit switch between them.
import { assert, assertNever } from '../assert.js';
import { DivergenceError } from '../errors.js';
import { describeEntry, isEvent, type Entry, type EventEntry, type GuestLimits, type ValueEntry } from '../log/entries.js';
import { isOutput, type OutputEffect } from '../sandbox/effects.js';
import { Guest, type GuestEvent, type HeapImage } from '../sandbox/guest.js';
import { EventBudgetWorld } from '../world/event-budget.js';
import { LiveWorld } from '../world/live-world.js';
import { ReplayWorld, type EntrySource } from '../world/replay-world.js';
import { IdempotencyStore, IDEMPOTENCY_KEY_CHARS_MAX, type IdempotencyState } from './idempotency-store.js';
import { OutputDigest } from './output-digest.js';
import { stateDigestSync } from '../checkpoint/state-digest.js';

export type ExecutorMode = 'live' | 'replay';

/** An output and the seq of the last entry of the event that produced it: the output rule gates on it. */
export interface Output {
  gateSeq: number;
  effect: OutputEffect;
  /** For answers to requests that carried an Idempotency-Key. */
  idempotencyKey?: string;
}

/** What the live driver does in the world on the executor's behalf. Never called in replay. */
export interface WorldActions {
  armTimer(timerId: number, dueMs: number): void;
  clearTimer(timerId: number): void;
  startRead(opId: number, path: string): void;
}

export interface ExecutorHooks {
  /** Live mode: every entry, in order, to be logged and streamed. */
  onEntry(seq: number, entry: Entry): void;
  /** Both modes: every output. A replayer suppresses them (and keeps the uncertain ones for go-live). */
  onOutput(output: Output): void;
  /** Live mode: world actions. */
  actions: WorldActions;
  /**
   * Replay mode: a write the log says completed, before the event that reports it. A secondary with
   * its own disk (no shared --dir) performs it on its replica, in log order.
   */
  onWriteReplayed?(write: PendingWrite): void;
}

export interface ExecutorOptions {
  source: string;
  programName: string;
  limits: GuestLimits;
  hooks: ExecutorHooks;
  /** A check entry (output digest) is logged after every this many events. */
  checkEveryEvents?: number;
  idempotencyKeysMax?: number;
  /**
   * Replay: 'verify' (default) compares `check` and `checkpoint` entries with this run's own digests;
   * 'skip' consumes them unchecked, for another program replaying a history (its outputs and state
   * legitimately differ; `lockstep upgrade-check` compares answers itself).
   */
  controlEntries?: 'verify' | 'skip';
}

export const CHECK_EVERY_EVENTS = 64;

export interface PendingTimer { dueMs: number; intervalMs: number }
export interface PendingWrite { path: string; data: string }

/** Everything of the executor the guest can observe, besides its heap, as plain data (arrays keep map order). */
export interface HostState {
  lastSeq: number;
  eventsDelivered: number;
  cpuPollsTotal: number;
  /** [timerId, dueMs, intervalMs]. */
  timers: Array<[number, number, number]>;
  /** [opId, path]. */
  pendingReads: Array<[number, string]>;
  /** [opId, path, data]. */
  pendingWrites: Array<[number, string, string]>;
  idempotency: IdempotencyState;
  /** The output digest's whole chain value (64 hex digits). */
  outputDigest: string;
  /** The newest clock value the guest has seen (null: none yet): the clock never goes back below it. */
  lastClockMs: number | null;
  /** The highest request id delivered to the guest: answers to higher ids are refused. */
  requestIdMax: number;
}

/** The executor's whole state at an entry boundary: what a checkpoint holds. */
export interface ExecutorState {
  host: HostState;
  heap: HeapImage;
}

export class Executor {
  mode: ExecutorMode;
  /** Seq of the last entry logged (live) or consumed (replay). */
  lastSeq = 0;
  eventsDelivered = 0;
  cpuPollsTotal = 0;
  readonly timers = new Map<number, PendingTimer>();
  readonly pendingReads = new Map<number, string>();
  readonly pendingWrites = new Map<number, PendingWrite>();
  idempotency: IdempotencyStore;
  private digest = new OutputDigest();
  private readonly checkEveryEvents: number;
  private replayWorld: ReplayWorld | undefined;
  private liveWorldNow: LiveWorld | undefined;
  /** What the guest is given: the live or replay world, within a per-event budget. */
  private budgeted!: EventBudgetWorld;
  private guest!: Guest;
  /** True while an event runs (hooks and world calls happen inside it). */
  private delivering = false;
  /** Live boot: the seq of the logged start event, until start() runs it. */
  private startSeq: number | undefined;

  private constructor(
    private readonly options: ExecutorOptions,
    mode: ExecutorMode,
    private readonly replaySource: EntrySource | undefined,
  ) {
    this.mode = mode;
    this.checkEveryEvents = options.checkEveryEvents ?? CHECK_EVERY_EVENTS;
    this.idempotency = new IdempotencyStore(options.idempotencyKeysMax);
  }

  /** Live boot: createLive() then start(), for hooks that need nothing of the executor itself. */
  static async bootLive(options: ExecutorOptions): Promise<Executor> {
    const executor = await Executor.createLive(options);
    executor.start();
    return executor;
  }

  /**
   * Live boot, first half: logs the start event and creates the guest (its PRNG seed is a logged
   * clock read), but runs no event. Whatever the hooks call back into (a LiveHost that arms timers
   * with this executor's clock) is wired to it before start() runs the guest's first event.
   */
  static async createLive(options: ExecutorOptions): Promise<Executor> {
    const executor = new Executor(options, 'live', undefined);
    executor.startSeq = executor.log({ kind: 'start' });
    executor.budgeted = new EventBudgetWorld(executor.liveWorld());
    executor.guest = await Guest.create({ ...options, world: executor.budgeted });
    return executor;
  }

  /** Live boot, second half: runs the guest's start() (the event logged by createLive), once. */
  start(): void {
    assert(this.mode === 'live' && this.startSeq !== undefined && this.eventsDelivered === 0, 'start() runs once, after createLive()');
    this.runEvent({ kind: 'start' }, this.startSeq);
  }

  /** Replay boot: entry #1 must be the start event. Throws DivergenceError otherwise. */
  static async bootReplay(options: ExecutorOptions, source: EntrySource): Promise<Executor> {
    const executor = new Executor(options, 'replay', source);
    const first = source.take();
    if (!first || first.entry.kind !== 'start') {
      throw new DivergenceError(first?.seq ?? 1, first ? describeEntry(first.entry) : 'nothing', 'event start (boot)');
    }
    executor.lastSeq = first.seq;
    executor.replayWorld = new ReplayWorld(executor.countingSource());
    executor.budgeted = new EventBudgetWorld(executor.replayWorld);
    executor.guest = await Guest.create({ ...options, world: executor.budgeted });
    executor.throwIfDiverged();
    executor.runEvent({ kind: 'start' }, first.seq);
    return executor;
  }

  /**
   * Replay boot from a checkpoint: the executor is in `state` (taken after entry #state.host.lastSeq)
   * and replays on from `source`, whose next entry must be the one after it. `goLive()` works as after
   * bootReplay. The options must be those of the run the state was taken from (same program and limits).
   */
  static async restoreReplay(options: ExecutorOptions, state: ExecutorState, source: EntrySource): Promise<Executor> {
    const { host } = state;
    assert(source.nextSeq() === host.lastSeq + 1, `a checkpoint taken after #${host.lastSeq} replays on from #${host.lastSeq + 1}, not #${source.nextSeq()}`);
    const executor = new Executor(options, 'replay', source);
    executor.lastSeq = host.lastSeq;
    executor.eventsDelivered = host.eventsDelivered;
    executor.cpuPollsTotal = host.cpuPollsTotal;
    for (const [timerId, dueMs, intervalMs] of host.timers) executor.timers.set(timerId, { dueMs, intervalMs });
    for (const [opId, path] of host.pendingReads) executor.pendingReads.set(opId, path);
    for (const [opId, path, data] of host.pendingWrites) executor.pendingWrites.set(opId, { path, data });
    executor.idempotency = IdempotencyStore.fromState(host.idempotency, options.idempotencyKeysMax);
    executor.digest = new OutputDigest(host.outputDigest);
    executor.replayWorld = new ReplayWorld(executor.countingSource());
    executor.replayWorld.lastNowMs = host.lastClockMs ?? -Infinity;
    executor.budgeted = new EventBudgetWorld(executor.replayWorld);
    executor.guest = await Guest.restore(options.limits, executor.budgeted, state.heap, host.requestIdMax);
    return executor;
  }

  /**
   * The whole state, copied now (the heap copy is the only costly part: a memcpy of the linear
   * memory). Between entries only: never from inside the guest (hooks, world calls).
   */
  captureState(): ExecutorState {
    assert(!this.delivering, 'captureState() inside an event: checkpoints are taken between events');
    return { host: this.hostState(), heap: this.guest.snapshotHeap() };
  }

  hostState(): HostState {
    return {
      lastSeq: this.lastSeq,
      eventsDelivered: this.eventsDelivered,
      cpuPollsTotal: this.cpuPollsTotal,
      timers: [...this.timers].map(([timerId, t]) => [timerId, t.dueMs, t.intervalMs]),
      pendingReads: [...this.pendingReads],
      pendingWrites: [...this.pendingWrites].map(([opId, w]) => [opId, w.path, w.data]),
      idempotency: this.idempotency.exportState(),
      outputDigest: this.digest.state(),
      lastClockMs: this.lastClockMs(),
      requestIdMax: this.guest.requestIdMaxNow,
    };
  }

  private lastClockMs(): number | null {
    const ms = this.mode === 'live' ? (this.liveWorldNow?.lastClockMs ?? -Infinity) : (this.replayWorld?.lastNowMs ?? -Infinity);
    return Number.isFinite(ms) ? ms : null;
  }

  /** The whole live guest memory (no copy), for a state digest computed before the next event. */
  heapView(): Uint8Array {
    return this.guest.heapView();
  }

  private heapContents(): { live: Uint8Array } {
    return { live: this.guest.heapView() };
  }

  /** Fault injection only: see Guest.injectSilentDivergence. */
  injectSilentDivergence(): void {
    this.guest.injectSilentDivergence();
  }

  // ---- live mode ----------------------------------------------------------------------------

  /** Logs and delivers one input event. Returns the seq of its event entry (a request's id). */
  submit(event: Exclude<EventEntry, { kind: 'start' }>): number {
    assert(this.mode === 'live', 'submit() is for live mode');
    assert(this.eventsDelivered > 0, 'submit() before the guest started: start() runs the first event');
    const seq = this.log(event);
    this.runEvent(toGuestEvent(event, seq), seq);
    return seq;
  }

  /** Logs a control entry (planned stop). */
  logControl(entry: Extract<Entry, { kind: 'stop' }>): number {
    assert(this.mode === 'live', 'logControl() is for live mode');
    return this.log(entry);
  }

  /**
   * The switch from replay to live: from now on the guest reads the real world. Pending timers are
   * re-armed at their logged due times and pending disk operations re-issued; pending writes are
   * returned so the caller releases them (they are outputs).
   */
  goLive(): { writes: Array<[number, PendingWrite]> } {
    assert(this.mode === 'replay', 'goLive() from replay only');
    this.mode = 'live';
    const lastNowMs = this.replayWorld?.lastNowMs ?? -Infinity;
    this.replayWorld = undefined;
    this.budgeted.inner = this.liveWorld(lastNowMs);
    const { actions } = this.options.hooks;
    for (const [timerId, timer] of this.timers) actions.armTimer(timerId, timer.dueMs);
    for (const [opId, path] of this.pendingReads) actions.startRead(opId, path);
    return { writes: [...this.pendingWrites] };
  }

  // ---- replay mode --------------------------------------------------------------------------

  /**
   * Replays the next event (with its values) or control entry from the source.
   * Returns what it consumed, or undefined when the source has nothing more.
   */
  replayNext(): Entry | undefined {
    assert(this.mode === 'replay' && this.replaySource, 'replayNext() is for replay mode');
    const next = this.replaySource.take();
    if (!next) return undefined;
    const { seq, entry } = next;
    assert(seq === this.lastSeq + 1, `replay source skipped from #${this.lastSeq} to #${seq}`);
    this.lastSeq = seq;
    if (isEvent(entry)) {
      if (entry.kind === 'start') throw new DivergenceError(seq, 'event start', 'the next event (the guest has already started)');
      this.runEvent(toGuestEvent(entry, seq), seq);
      return entry;
    }
    if (this.options.controlEntries === 'skip' && (entry.kind === 'check' || entry.kind === 'checkpoint')) return entry;
    switch (entry.kind) {
      case 'check': {
        const mine = this.digest.current();
        if (entry.events !== this.eventsDelivered || entry.digest !== mine) {
          throw new DivergenceError(seq, `outputs digest ${entry.digest} after ${entry.events} events`, `outputs digest ${mine} after ${this.eventsDelivered} events (the replayed outputs differ)`);
        }
        return entry;
      }
      case 'checkpoint': {
        // The logged digest is of the state after the entry before this one.
        const mine = stateDigestSync({ ...this.hostState(), lastSeq: seq - 1 }, this.heapContents());
        if (entry.stateDigest !== mine) {
          throw new DivergenceError(seq, `state digest ${entry.stateDigest} (after #${seq - 1})`, `a state with digest ${mine} (the replayed heap or host state differs)`);
        }
        return entry;
      }
      case 'stop':
        return entry;
      case 'now':
      case 'random':
        throw new DivergenceError(seq, describeEntry(entry), 'the next event (the guest made no such call)');
      default:
        return assertNever(entry, 'entry kind');
    }
  }

  /**
   * Inspection only: evaluates `expression` in the guest's global scope now (between events), with
   * `program` bound to the program module's exports. A clock read gets the newest clock value the
   * guest has seen, entropy is zeros; nothing is logged or consumed. The heap changes, so replay on
   * only from a state captured before (see Guest).
   */
  evaluateForInspection(expression: string): ReturnType<Guest['evaluateForInspection']> {
    assert(this.mode === 'replay' && !this.delivering, 'inspection between replayed events only');
    const nowMs = this.lastClockMs() ?? 0;
    return this.guest.evaluateForInspection(expression, { now: () => nowMs, randomBytes: (length) => new Uint8Array(length) }, this.options.programName);
  }

  // ---- shared path --------------------------------------------------------------------------

  private runEvent(event: GuestEvent, eventSeq: number): void {
    assert(!this.delivering, 'an event delivered from inside another (a hook re-entered the executor)');
    this.delivering = true;
    try {
      this.runEventInside(event, eventSeq);
    } finally {
      this.delivering = false;
    }
  }

  private completeWrite(opId: number, ok: boolean): void {
    const write = this.pendingWrites.get(opId);
    this.pendingWrites.delete(opId);
    if (ok && write && this.mode !== 'live') this.options.hooks.onWriteReplayed?.(write);
  }

  private runEventInside(event: GuestEvent, eventSeq: number): void {
    if (event.kind === 'request') {
      const key = idempotencyKeyOf(event.headers);
      if (key !== undefined) this.idempotency.register(key, eventSeq);
    }
    if (event.kind === 'read') this.pendingReads.delete(event.opId);
    if (event.kind === 'write') this.completeWrite(event.opId, event.ok);
    this.budgeted.beginEvent();
    const outcome = this.guest.deliver(event);
    this.throwIfDiverged();
    this.eventsDelivered++;
    this.cpuPollsTotal += outcome.cpuPolls;
    const gateSeq = this.lastSeq; // every value this event consumed or logged comes before it
    const { hooks } = this.options;
    const live = this.mode === 'live';
    for (const effect of outcome.effects) {
      if (isOutput(effect)) {
        this.digest.add(effect);
        let idempotencyKey: string | undefined;
        if (effect.type === 'respond') idempotencyKey = this.idempotency.answer(effect.requestId, { status: effect.status, headers: effect.headers, body: effect.body }, gateSeq);
        if (effect.type === 'write') this.pendingWrites.set(effect.opId, { path: effect.path, data: effect.data });
        hooks.onOutput({ gateSeq, effect, idempotencyKey });
        continue;
      }
      switch (effect.type) {
        case 'timer':
          this.timers.set(effect.timerId, { dueMs: effect.dueMs, intervalMs: effect.intervalMs });
          if (live) hooks.actions.armTimer(effect.timerId, effect.dueMs);
          break;
        case 'clear':
          this.timers.delete(effect.timerId);
          if (live) hooks.actions.clearTimer(effect.timerId);
          break;
        case 'read':
          this.pendingReads.set(effect.opId, effect.path);
          if (live) hooks.actions.startRead(effect.opId, effect.path);
          break;
        default:
          assertNever(effect, 'effect');
      }
    }
    if (event.kind === 'timer') {
      const timer = this.timers.get(event.timerId);
      if (timer && timer.intervalMs === 0) this.timers.delete(event.timerId);
    }
    if (live && this.eventsDelivered % this.checkEveryEvents === 0) this.logCheck();
  }

  /**
   * Live: logs a `checkpoint` entry carrying `stateDigest`, the digest of the state after the last
   * entry (#lastSeq, which the caller computed it at); a replayer checks its own there.
   * Returns the seq of the checkpoint entry.
   */
  logStateDigest(stateDigest: string, atSeq: number): number {
    assert(this.mode === 'live', 'state digests are logged in live mode');
    assert(atSeq === this.lastSeq && !this.delivering, `a state digest of #${atSeq} logged after #${this.lastSeq}: nothing may run between computing and logging it`);
    return this.log({ kind: 'checkpoint', stateDigest });
  }

  /** A check entry with the digest of every output so far (also written at a clean end of a recording). */
  logCheck(): void {
    assert(this.mode === 'live', 'checks are logged in live mode');
    this.log({ kind: 'check', events: this.eventsDelivered, digest: this.digest.current() });
  }

  outputsDigest(): string {
    return this.digest.current();
  }

  private liveWorld(lastNowMs = -Infinity): LiveWorld {
    this.liveWorldNow = new LiveWorld((entry: ValueEntry) => this.log(entry), lastNowMs);
    return this.liveWorldNow;
  }

  /** `hostNowMs` on the log's clock: never earlier than a value the guest has already seen. */
  clockFloorMs(hostNowMs: number): number {
    return Math.max(hostNowMs, this.liveWorldNow?.lastClockMs ?? -Infinity);
  }

  private log(entry: Entry): number {
    const seq = ++this.lastSeq;
    this.options.hooks.onEntry(seq, entry);
    return seq;
  }

  /** Values consumed by the replay world advance lastSeq too. */
  private countingSource(): EntrySource {
    const source = this.replaySource!;
    return {
      take: () => {
        const next = source.take();
        if (next) this.lastSeq = next.seq;
        return next;
      },
      nextSeq: () => source.nextSeq(),
    };
  }

  private throwIfDiverged(): void {
    if (this.replayWorld?.divergence) throw this.replayWorld.divergence;
  }

  dispose(): void {
    this.guest?.dispose();
  }
}

function toGuestEvent(entry: Exclude<EventEntry, { kind: 'start' }>, seq: number): GuestEvent {
  switch (entry.kind) {
    case 'request':
      return { kind: 'request', id: seq, method: entry.method, path: entry.path, headers: entry.headers, body: entry.body };
    case 'timer':
      return { kind: 'timer', timerId: entry.timerId };
    case 'read':
      return entry.ok ? { kind: 'read', opId: entry.opId, ok: true, data: entry.data } : { kind: 'read', opId: entry.opId, ok: false, error: entry.error };
    case 'write':
      return entry.ok ? { kind: 'write', opId: entry.opId, ok: true } : { kind: 'write', opId: entry.opId, ok: false, error: entry.error };
    default:
      return assertNever(entry, 'event kind');
  }
}

export function idempotencyKeyOf(headers: Array<[string, string]>): string | undefined {
  for (const [name, value] of headers) {
    if (name === 'idempotency-key' && value.length > 0 && value.length <= IDEMPOTENCY_KEY_CHARS_MAX) return value;
  }
  return undefined;
}
