// Binds an executor to the real world: real timers, the real data directory, HTTP clients waiting
// for answers, and the output gate. Used by `run`, by a primary, and by a secondary once it is live.
import { assert } from '../assert.js';
import type { Entry } from '../log/entries.js';
import { Executor, idempotencyKeyOf, type ExecutorHooks, type ExecutorOptions, type Output, type WorldActions } from '../engine/executor.js';
import type { StoredAnswer } from '../engine/idempotency-store.js';
import type { IncomingRequest } from '../http/incoming-request.js';
import type { AbandonSignal } from '../http/abandon-signal.js';
import { dataDirOf, readGuestFile, writeGuestFile, FILE_BYTES_MAX } from './data-dir.js';
import { OpenGate, type OutputGate } from '../replication/output-gate.js';
import { recordMetrics } from '../metrics/record.js';

export interface LiveHostOptions {
  /** The shared directory; the guest's files are under <dir>/data unless `dataDir` says otherwise. */
  dir: string;
  /** The guest's files (a pair node: its epoch's directory, see replication/epoch-data.ts). */
  dataDir?: string;
  gate?: OutputGate;
  /** Where guest console lines go once released (default: stdout with a prefix). */
  onConsole?: (level: string, text: string) => void;
  /** Every entry as it is produced (record to a file, stream to a secondary). */
  onEntry?: (seq: number, entry: Entry) => void;
  /** After each event (an event boundary): lets a primary ship its log during a long burst of events. */
  afterEvent?: () => void;
  /** Every output the gate let out (a primary tells its shadow the answers it released). */
  onReleased?: (output: Output) => void;
  fileBytesMax?: number;
  /** The write journal's bound in bytes (host/write-journal.ts; default JOURNAL_BYTES_MAX_DEFAULT). */
  journalBytesMax?: number;
}

type Waiter = { resolve: (answer: StoredAnswer) => void; reject: (error: Error) => void };

/** The guest a live node boots: what Executor.createLive needs besides the hooks (the host gives those). */
export type LiveGuest = Omit<ExecutorOptions, 'hooks'>;

export class LiveHost implements WorldActions {
  gate: OutputGate;
  readonly dataDir: string;
  private readonly realTimers = new Map<number, NodeJS.Timeout>();
  private readonly waiters = new Map<number, Waiter[]>();
  private stopped = false;
  /** Set once, by boot() or forExecutor(), before the guest's first event can run. */
  private executorNow: Executor | undefined;
  outputsReleased = 0;

  private constructor(private readonly options: LiveHostOptions) {
    this.gate = options.gate ?? new OpenGate();
    this.dataDir = options.dataDir ?? dataDirOf(options.dir);
  }

  /**
   * Boots a live node's guest on this host: the executor is created with the host's hooks and wired
   * to the host before start() runs, so whatever start() does (arm a timer, read, write, answer)
   * finds a complete host. A boot-time timer once crashed a half-wired node.
   */
  static async boot(options: LiveHostOptions, guest: LiveGuest, wrapHooks: (hooks: ExecutorHooks) => ExecutorHooks = (hooks) => hooks): Promise<LiveHost> {
    const host = new LiveHost(options);
    host.executorNow = await Executor.createLive({ ...guest, hooks: wrapHooks(host.hooks()) });
    host.executor.start();
    return host;
  }

  /** The host of an executor that already runs (a secondary going live); it was replaying until now. */
  static forExecutor(options: LiveHostOptions, executor: Executor): LiveHost {
    const host = new LiveHost(options);
    host.executorNow = executor;
    return host;
  }

  get executor(): Executor {
    assert(this.executorNow, 'a live host is always built with its executor (boot or forExecutor)');
    return this.executorNow;
  }

  /** Hooks to hand to the executor. `onEntry` may be changed later (e.g. when a secondary attaches). */
  hooks(): ExecutorHooks {
    return {
      onEntry: (seq, entry) => this.options.onEntry?.(seq, entry),
      onOutput: (output) => this.hold(output),
      actions: this,
    };
  }

  setOnEntry(onEntry: (seq: number, entry: Entry) => void): void {
    this.options.onEntry = onEntry;
  }

  setAfterEvent(afterEvent: () => void): void {
    this.options.afterEvent = afterEvent;
  }

  setOnReleased(onReleased: (output: Output) => void): void {
    this.options.onReleased = onReleased;
  }

  private get live(): Executor {
    assert(this.executor.mode === 'live', 'the live host needs a live executor');
    return this.executor;
  }

  /** Runs a request through the guest (or answers from the idempotency store) and resolves with the released answer. */
  handleRequest(request: IncomingRequest, abandoned?: AbandonSignal): Promise<StoredAnswer> {
    const executor = this.live;
    const key = idempotencyKeyOf(request.headers);
    if (key !== undefined) {
      const known = executor.idempotency.lookup(key);
      if (known?.answer && known.answerGateSeq !== undefined) return this.storedAnswer(known.answer, known.answerGateSeq);
      if (known) return this.waitFor(known.requestSeq, abandoned);
    }
    // The answer may be released during submit() (a synchronous handler, an open gate): wait first.
    const expectedSeq = executor.lastSeq + 1;
    const answer = this.waitFor(expectedSeq, abandoned);
    const seq = executor.submit({ kind: 'request', method: request.method, path: request.path, headers: request.headers, body: request.body });
    this.options.afterEvent?.();
    assert(seq === expectedSeq, `request logged as #${seq}, expected #${expectedSeq}`);
    return answer;
  }

  /** A stored answer is an output like any other: it leaves through the gate (acked and under the lease). */
  private storedAnswer(answer: StoredAnswer, gateSeq: number): Promise<StoredAnswer> {
    return new Promise((resolve, reject) => {
      this.gate.hold(gateSeq, () => (this.stopped ? reject(new Error('this node has stopped; the answer was not released')) : resolve(answer)));
    });
  }

  /** Waits for the answer to request #requestSeq; a waiter nobody needs any more (abandoned) is dropped, so none leak. */
  private waitFor(requestSeq: number, abandoned?: AbandonSignal): Promise<StoredAnswer> {
    if (this.stopped) return Promise.reject(new Error('this node has stopped'));
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { resolve, reject };
      const list = this.waiters.get(requestSeq);
      if (list) list.push(waiter);
      else this.waiters.set(requestSeq, [waiter]);
      abandoned?.addEventListener('abort', () => this.dropWaiter(requestSeq, waiter), { once: true });
    });
  }

  private dropWaiter(requestSeq: number, waiter: Waiter): void {
    const list = this.waiters.get(requestSeq);
    if (!list) return;
    const rest = list.filter((w) => w !== waiter);
    if (rest.length > 0) this.waiters.set(requestSeq, rest);
    else this.waiters.delete(requestSeq);
  }

  /** Outputs leave only through the gate. */
  private hold(output: Output): void {
    const heldSinceMs = performance.now(); // metrics: how long the output rule held it
    this.gate.hold(output.gateSeq, () => {
      recordMetrics.outputReleased(output.effect.type, heldSinceMs);
      this.release(output);
      if (!this.stopped) this.options.onReleased?.(output);
    });
  }

  /** Releases one output into the world. Also used at go-live for outputs whose release is uncertain. */
  release(output: Output): void {
    if (this.stopped) return;
    this.outputsReleased++;
    const { effect } = output;
    switch (effect.type) {
      case 'respond': {
        const list = this.waiters.get(effect.requestId);
        if (!list) return; // the client went to another node, or this is a replayed answer
        this.waiters.delete(effect.requestId);
        for (const { resolve } of list) resolve({ status: effect.status, headers: effect.headers, body: effect.body });
        return;
      }
      case 'console':
        (this.options.onConsole ?? defaultConsole)(effect.level, effect.text);
        return;
      case 'write':
        this.performWrite(effect.opId, effect.path, effect.data);
        return;
    }
  }

  performWrite(opId: number, path: string, data: string): void {
    writeGuestFile(this.dataDir, path, data, this.options.fileBytesMax ?? FILE_BYTES_MAX, this.options.journalBytesMax).then(
      () => this.deliver({ kind: 'write', opId, ok: true }),
      (error) => this.deliver({ kind: 'write', opId, ok: false, error: this.cleanError(error) }),
    );
  }

  armTimer(timerId: number, dueMs: number): void {
    this.clearTimer(timerId);
    // Due times are on the log's clock, which never runs behind what the guest has seen (see LiveWorld).
    const delay = Math.max(0, dueMs - this.live.clockFloorMs(Date.now()));
    const timer = setTimeout(() => {
      this.realTimers.delete(timerId);
      this.deliver({ kind: 'timer', timerId });
    }, Math.min(delay, 2_147_483_647));
    this.realTimers.set(timerId, timer);
  }

  clearTimer(timerId: number): void {
    const timer = this.realTimers.get(timerId);
    if (timer) clearTimeout(timer);
    this.realTimers.delete(timerId);
  }

  startRead(opId: number, path: string): void {
    readGuestFile(this.dataDir, path, this.options.fileBytesMax ?? FILE_BYTES_MAX).then(
      (data) => this.deliver({ kind: 'read', opId, ok: true, data }),
      (error) => this.deliver({ kind: 'read', opId, ok: false, error: this.cleanError(error) }),
    );
  }

  /** World completions become logged events; nothing is delivered after stop(). */
  private deliver(event: Parameters<Executor['submit']>[0]): void {
    if (this.stopped) return;
    this.live.submit(event);
    this.options.afterEvent?.();
  }

  /** Error text goes into the log and to the guest: keep it free of host paths. */
  private cleanError(error: unknown): string {
    const message = error instanceof Error ? error.message : String(error);
    return message.split(this.dataDir).join('').split(process.cwd()).join('');
  }

  get pendingAnswers(): number {
    return this.waiters.size;
  }

  /** Stops all world activity: no timer fires and no output leaves after this. */
  stop(): void {
    this.stopped = true;
    for (const timer of this.realTimers.values()) clearTimeout(timer);
    this.realTimers.clear();
    // Nothing will be released any more: fail the waiting requests (no answer leaves; the service
    // drops its per-request timers, so a fenced node's process can exit at once).
    const waiting = [...this.waiters.values()].flat();
    this.waiters.clear();
    for (const { reject } of waiting) reject(new Error('this node has stopped; the answer was not released'));
  }
}

function defaultConsole(level: string, text: string): void {
  const line = `[guest ${level}] ${text}\n`;
  if (level === 'error' || level === 'warn') process.stderr.write(line);
  else process.stdout.write(line);
}
