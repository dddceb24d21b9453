// `lockstep inspect`: the guest's state right after the event that contains any entry of a recording.
// Going to an entry replays from the newest saved state before that event: the current state when
// it lies ahead, a checkpoint file beside the log, or a copy this session kept while replaying
// forward; entry #1 only when there is none. The log's checks and state digests are verified on the way.
import { readFile } from 'node:fs/promises';
import { restoreCheckpoint } from '../checkpoint/checkpoint.js';
import { CheckpointError } from '../checkpoint/errors.js';
import { listCheckpointFiles, type CheckpointFile } from '../checkpoint/sidecar.js';
import { Executor, type ExecutorOptions, type ExecutorState } from '../engine/executor.js';
import { loadProgram, RUNTIME_ID, type Program } from '../engine/program.js';
import { checkHeaderCompatible } from '../log/codec.js';
import { describeEntry, isEvent, type Entry, type LogHeader } from '../log/entries.js';
import type { OutputEffect } from '../sandbox/effects.js';
import { EvalThrewError, NoSuchEntryError, NothingThereError } from './errors.js';
import { EventIndex, LogCursor } from './log-cursor.js';
import { LazyLog } from './lazy-log.js';

/** Ahead of the current state by at most this many entries, replaying on beats restoring a saved state (a restore sets a sandbox up: ~0.1-0.4 s). */
const FORWARD_REPLAY_PREFERRED_ENTRIES = 20_000;
/** While replaying forward, the session keeps a copy of the state this often (in entries), so going back is short even without checkpoint files. */
const SESSION_SNAPSHOT_EVERY_ENTRIES = 50_000;
/** A move that replays further than this keeps a copy this many entries before its target, so `.prev` after it is short. */
const NEAR_TARGET_COPY_ENTRIES = 2_000;
/** Copies kept in memory (spread over the log): each holds the guest heap's non-zero pages. */
const SESSION_SNAPSHOTS_MAX = 8;

export interface InspectOptions {
  /** Start from checkpoint files beside the log (default true); false: only from entry #1 or the session's own copies. */
  useCheckpoints?: boolean;
  /** Keep copies of the state while replaying forward (default true; a one-shot `--eval` needs none). */
  sessionSnapshots?: boolean;
}

/** Where the session stands, and how it got there. */
export interface Position {
  /** The entry asked for. */
  at: number;
  /** The event that contains it (its event entry), or undefined at the start of a cut log. */
  event: { seq: number; description: string } | undefined;
  /** Replay stopped after this entry (the last of the event's entries). */
  lastSeq: number;
  /** Where this move started from: 'current state', 'checkpoint after #S', 'session copy after #S', 'entry #1'. */
  from: string;
  /** Entries replayed for this move. */
  replayed: number;
}

interface SavedState {
  seq: number;
  state: ExecutorState;
  /** The outputs of the event that ended at `seq` (kept for the pre-eval copy only). */
  effects: OutputEffect[];
}

export class InspectSession {
  private executor: Executor | undefined;
  private collected: OutputEffect[] = [];
  /** The outputs of the event the session stands after. */
  private eventEffects: OutputEffect[] = [];
  private readonly snapshots: SavedState[] = [];
  /** The state before an evaluation changed the heap: restored before anything else runs. */
  private beforeEval: SavedState | undefined;
  private at = 0;
  private checkpointFiles: CheckpointFile[] = [];

  private constructor(
    readonly logPath: string,
    readonly header: LogHeader,
    private readonly log: LazyLog,
    private readonly events: EventIndex,
    private readonly program: Program,
    private readonly options: InspectOptions,
  ) {}

  static async open(logPath: string, programPath: string, options: InspectOptions = {}): Promise<InspectSession> {
    const program = await loadProgram(programPath);
    const log = LazyLog.open(logPath);
    const { header } = log;
    checkHeaderCompatible({ formatVersion: header.formatVersion, runtime: RUNTIME_ID, programHash: program.hash, limits: header.limits }, header);
    const session = new InspectSession(logPath, header, log, new EventIndex(log), program, options);
    if (options.useCheckpoints !== false || log.firstSeq > 1) session.checkpointFiles = await listCheckpointFiles(logPath);
    return session;
  }

  get firstSeq(): number {
    return this.log.firstSeq;
  }

  get lastSeq(): number {
    return this.log.lastSeq;
  }

  /** The entry the session was last moved to (0 before the first move). */
  get position(): number {
    return this.at;
  }

  /** Moves to the state right after the event that contains entry #seq. */
  async goTo(seq: number): Promise<Position> {
    if (!Number.isSafeInteger(seq) || seq < this.firstSeq || seq > this.lastSeq) throw new NoSuchEntryError(seq, this.firstSeq, this.lastSeq, this.logPath);
    try {
      const position = await this.move(seq);
      this.at = seq;
      return position;
    } catch (error) {
      // A divergence leaves the executor inside an event, a damaged checkpoint leaves none: start afresh next time.
      this.dispose();
      this.beforeEval = undefined;
      this.at = 0;
      throw error;
    }
  }

  private async move(seq: number): Promise<Position> {
    const eventStart = this.events.eventStartOf(seq);
    const target = eventStart === undefined ? seq : this.events.eventEnd(eventStart);
    // Any saved state before the target event will do: the event itself is always replayed (for its effects).
    const before = eventStart ?? seq;
    const current = this.executor;
    let from = 'current state';
    let startSeq = current?.lastSeq ?? 0;
    const sameEvent = current !== undefined && this.at > 0 && this.events.eventStartOf(current.lastSeq) === eventStart;
    const alreadyThere = sameEvent && current.lastSeq >= seq;
    if (!alreadyThere) {
      const saved = this.newestSavedBefore(before);
      // Ahead of the current state, or only control entries after the current event (a check, a checkpoint).
      const forwardOk = current !== undefined && (current.lastSeq < before || sameEvent);
      const savedSeq = saved?.seq ?? (this.firstSeq === 1 ? 0 : -1);
      if (!forwardOk || savedSeq > current.lastSeq + FORWARD_REPLAY_PREFERRED_ENTRIES) {
        this.beforeEval = undefined; // the state an evaluation changed is left behind whole
        from = await this.restart(saved);
        startSeq = saved?.seq ?? 0; // booting replays the start event and its values
      }
    }
    // Going on from the current state: first undo what an evaluation changed (same position).
    await this.undoEvaluation();
    const replayed = this.replayTo(Math.max(target, seq)) - startSeq;
    this.at = seq;
    return this.describePosition(from, alreadyThere ? 0 : replayed);
  }

  /** The state after the next event. */
  next(): Promise<Position> {
    const next = this.events.nextEvent(this.executor?.lastSeq ?? this.firstSeq - 1);
    if (next === undefined) throw new NothingThereError(`The session is at the last event of the log (entry #${this.lastSeq} is its last entry): there is no next one.`);
    return this.goTo(next);
  }

  /** The state after the previous event. */
  prev(): Promise<Position> {
    const start = this.currentEventStart();
    const previous = start === undefined ? undefined : this.events.prevEvent(start);
    if (previous === undefined) throw new NothingThereError(`The session is at the first event ${this.firstSeq > 1 ? 'this cut log holds' : 'of the log'}: there is no previous one.`);
    return this.goTo(previous);
  }

  /** Moves to the next request (after the current event) whose path or body contains `text`. */
  async find(text: string): Promise<Position> {
    const from = this.executor?.lastSeq ?? this.firstSeq - 1;
    for (let seq = this.events.nextEvent(from); seq !== undefined; seq = this.events.nextEvent(seq)) {
      const entry = this.log.entryAt(seq)!;
      if (entry.kind !== 'request') continue;
      if (entry.path.includes(text) || Buffer.from(entry.body.buffer, entry.body.byteOffset, entry.body.length).toString('utf8').includes(text)) return this.goTo(seq);
    }
    throw new NothingThereError(`No request after entry #${from} has ${JSON.stringify(text)} in its path or body. The position is unchanged; try .at N to go back first.`);
  }

  /** The event the session stands after: its entries (the event and the values it read), numbered. */
  currentEntries(): Array<{ seq: number; entry: Entry }> {
    this.assertPositioned();
    const start = this.currentEventStart();
    if (start === undefined) return [{ seq: this.at, entry: this.log.entryAt(this.at)! }];
    const result: Array<{ seq: number; entry: Entry }> = [];
    for (let seq = start; seq <= this.events.eventEnd(start); seq++) result.push({ seq, entry: this.log.entryAt(seq)! });
    return result;
  }

  /** What the current event put out: answers (to any request), file writes, console lines. */
  effects(): OutputEffect[] {
    this.assertPositioned();
    return this.beforeEval?.effects ?? this.eventEffects;
  }

  /**
   * Evaluates `expression` in the guest's global scope in the current state and returns its value
   * (JSON-able; undefined when it has none). Throws EvalThrewError with the guest's message.
   * The state is kept as it was: the next move or evaluation starts from a copy taken before.
   */
  async evaluate(expression: string): Promise<unknown> {
    this.assertPositioned();
    await this.undoEvaluation();
    const executor = this.executor!;
    this.beforeEval = { seq: executor.lastSeq, state: executor.captureState(), effects: this.eventEffects };
    const result = executor.evaluateForInspection(expression);
    if (!result.ok) throw new EvalThrewError(expression, result.message, executor.lastSeq);
    return result.json === undefined ? undefined : JSON.parse(result.json);
  }

  dispose(): void {
    this.executor?.dispose();
    this.executor = undefined;
  }

  private assertPositioned(): void {
    if (this.at === 0) throw new NothingThereError('The session has not moved to an entry yet: use .at N first.');
  }

  private currentEventStart(): number | undefined {
    return this.executor ? this.events.eventStartOf(this.executor.lastSeq) : undefined;
  }

  private describePosition(from: string, replayed: number): Position {
    const start = this.currentEventStart();
    const event = start === undefined ? undefined : { seq: start, description: describeEntry(this.log.entryAt(start)!) };
    return { at: this.at, event, lastSeq: this.executor!.lastSeq, from, replayed };
  }

  /** An evaluation changed the heap: go back to the copy taken before it (same position, same effects). */
  private async undoEvaluation(): Promise<void> {
    const saved = this.beforeEval;
    if (!saved) return;
    this.beforeEval = undefined;
    this.executor?.dispose();
    this.executor = undefined;
    this.executor = await Executor.restoreReplay(this.executorOptions(), saved.state, this.cursorAt(saved.seq + 1));
    this.eventEffects = saved.effects;
  }

  /** The newest checkpoint file or session copy holding a state after an entry before #seq. */
  private newestSavedBefore(seq: number): { seq: number; file?: CheckpointFile; copy?: SavedState } | undefined {
    const file = this.checkpointFiles.filter((f) => f.seq < seq && f.seq >= this.firstSeq - 1).at(-1);
    const copy = this.snapshots.filter((s) => s.seq < seq).at(-1);
    if (copy && (!file || copy.seq >= file.seq)) return { seq: copy.seq, copy };
    return file && { seq: file.seq, file };
  }

  /** A new executor at `saved` (or entry #1); returns how it started. */
  private async restart(saved: { seq: number; file?: CheckpointFile; copy?: SavedState } | undefined): Promise<string> {
    this.executor?.dispose();
    this.executor = undefined;
    this.eventEffects = [];
    if (saved?.copy) {
      this.executor = await Executor.restoreReplay(this.executorOptions(), saved.copy.state, this.cursorAt(saved.seq + 1));
      return `session copy after #${saved.seq}`;
    }
    if (saved?.file) {
      const bytes = await readFile(saved.file.path);
      this.executor = (await restoreCheckpoint(bytes, this.program, this.executorOptions(), this.cursorAt(saved.seq + 1), { source: saved.file.path })).executor;
      return `checkpoint after #${saved.seq}`;
    }
    if (this.firstSeq > 1) {
      throw new CheckpointError(
        'LOCKSTEP_CHECKPOINT_MISMATCH',
        `${this.logPath} was cut to stay bounded: it replays only from the checkpoint of the state after #${this.firstSeq - 1}, and that file is missing. Restore it into ${this.logPath}.checkpoints/.`,
      );
    }
    this.collected = [];
    this.executor = await Executor.bootReplay(this.executorOptions(), this.cursorAt(1));
    this.eventEffects = this.collected; // the start event's
    return 'entry #1';
  }

  /** Replays whole events until entry #target is replayed; returns the last entry replayed. */
  private replayTo(target: number): number {
    const executor = this.executor!;
    const copies = this.options.sessionSnapshots !== false;
    let sinceSnapshot = 0;
    let nearCopyDue = copies && executor.lastSeq < target - NEAR_TARGET_COPY_ENTRIES;
    while (executor.lastSeq < target) {
      const before = executor.lastSeq;
      this.collected = [];
      const entry = executor.replayNext();
      if (!entry) break;
      if (isEvent(entry)) this.eventEffects = this.collected;
      sinceSnapshot += executor.lastSeq - before;
      if (executor.lastSeq >= target) break;
      if ((copies && sinceSnapshot >= SESSION_SNAPSHOT_EVERY_ENTRIES) || (nearCopyDue && executor.lastSeq >= target - NEAR_TARGET_COPY_ENTRIES)) {
        if (executor.lastSeq >= target - NEAR_TARGET_COPY_ENTRIES) nearCopyDue = false;
        sinceSnapshot = 0;
        this.keepSnapshot(executor);
      }
    }
    return executor.lastSeq;
  }

  private keepSnapshot(executor: Executor): void {
    if (this.snapshots.some((s) => s.seq === executor.lastSeq)) return;
    const copy: SavedState = { seq: executor.lastSeq, state: executor.captureState(), effects: [] };
    this.snapshots.push(copy);
    this.snapshots.sort((a, b) => a.seq - b.seq);
    if (this.snapshots.length <= SESSION_SNAPSHOTS_MAX) return;
    // Keep them spread over the log: drop the one (not the first, nor the one just taken) whose
    // neighbours are closest, so a jump anywhere finds a copy not far before it.
    let drop = -1;
    for (let i = 1; i < this.snapshots.length - 1; i++) {
      if (this.snapshots[i] === copy) continue;
      const gap = this.snapshots[i + 1].seq - this.snapshots[i - 1].seq;
      if (drop < 0 || gap < this.snapshots[drop + 1].seq - this.snapshots[drop - 1].seq) drop = i;
    }
    this.snapshots.splice(drop < 0 ? 0 : drop, 1);
  }

  private cursorAt(seq: number): LogCursor {
    return new LogCursor(this.log, seq);
  }

  private executorOptions(): ExecutorOptions {
    return {
      source: this.program.source,
      // The recorded run's name: the module is registered under it in a checkpoint's heap too.
      programName: this.header.programName,
      limits: this.header.limits,
      hooks: {
        onEntry: () => {},
        onOutput: (output) => this.collected.push(output.effect),
        actions: { armTimer() {}, clearTimer() {}, startRead() {} },
      },
    };
  }
}
