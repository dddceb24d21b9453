// One sandboxed guest program in its own QuickJS runtime. The host delivers events whole; the guest
// runs them to completion (sync part, then every promise job) and reports its effects. Everything it
// can observe of the world comes through `GuestWorld` (the doorway), so a run is a function of the log.
import { isUtf8 } from 'node:buffer';
import type { QuickJSContext, QuickJSHandle, QuickJSRuntime } from 'quickjs-emscripten-core';
import { assert } from '../assert.js';
import { GuestLoadError } from '../errors.js';
import type { GuestLimits, HeaderPairs } from '../log/entries.js';
import { decodeEffects, type Effect } from './effects.js';
import { PRELUDE_SOURCE } from './prelude.js';
import { URL_LIB_SOURCE, WEB_BUNDLE_SOURCE } from './web-bundle.generated.js';
import { loadOwnedQuickJS, newLinearMemory } from './quickjs-module.js';
import { cpuSlice } from './cpu-slices.js';
import { restoreSparse, sparseCopy, sparseImageProblem } from './sparse-heap.js';

/** The only way anything of the world reaches the guest inside an event (live: reads and logs; replay: reads the log). */
export interface GuestWorld {
  /** Milliseconds since the epoch. */
  now(): number;
  randomBytes(length: number): Uint8Array;
}

export type GuestEvent =
  | { kind: 'start' }
  /** `body`: the bytes as logged (a string stands for its UTF-8 bytes: a shortcut for in-process callers). */
  | { kind: 'request'; id: number; method: string; path: string; headers: HeaderPairs; body: Uint8Array | string }
  | { kind: 'timer'; timerId: number }
  | { kind: 'read'; opId: number; ok: boolean; data?: string; error?: string }
  | { kind: 'write'; opId: number; ok: boolean; error?: string };

/** Why the guest stopped before finishing an event's work; each is deterministic. */
export type GuestFault = 'cpu_budget_exceeded' | 'memory_limit_exceeded' | 'stack_limit_exceeded' | 'guest_threw';

export interface EventOutcome {
  effects: Effect[];
  /** Interrupt polls used (deterministic CPU measure). */
  cpuPolls: number;
  /** Faults that escaped the guest (only limits can escape the prelude's own try/catch). */
  faults: Array<{ fault: GuestFault; message: string }>;
}

export const DEFAULT_GUEST_LIMITS: GuestLimits = {
  memoryBytesMax: 64 * 1024 * 1024,
  // QuickJS must hit its own (deterministic) stack limit well before V8's native stack overflows:
  // each guest frame costs ~2.5x more native stack than QuickJS counts, and at 512 KiB V8 overflowed first.
  stackBytesMax: 256 * 1024,
  cpuPollsPerEventMax: 2000, // ~10M simple loop iterations, ~0.1-1 s
};

/** Bytes of entropy per crypto.getRandomValues call (the Web Crypto limit); the prelude checks it too. */
export const RANDOM_BYTES_PER_CALL_MAX = 65_536;
/** Room the host keeps above the guest's memory limit to collect effects after the guest hit it. */
const HOST_MEMORY_HEADROOM_BYTES = 8 * 1024 * 1024;
/** Bound on job-draining rounds per event: each round runs every pending job. */
const JOB_ROUNDS_MAX = 10_000;

/**
 * The guest's whole QuickJS state at an event boundary: its linear memory, plus the addresses of the
 * handles the host holds into it. A restore repeats the identical setup, which must place those
 * handles at the same addresses, or the host's handles would point at other objects.
 */
export interface HeapImage {
  /** The linear memory's non-zero pages (sparse-heap.ts): every other byte is zero. */
  sparse: Uint8Array;
  /** The linear memory's whole size (it decides when the heap grows, so it is state too). */
  memoryBytes: number;
  /** Addresses of the dispatcher, deliver, takeEffects and endEvent handles, in that order. */
  anchors: number[];
}

/** Why `image` cannot be restored into a memory the repeated setup left at `sizeNow` bytes with `anchors`. */
function restoreProblem(image: HeapImage, sizeNow: number, anchors: number[]): string | undefined {
  if (sizeNow !== image.memoryBytes || anchors.some((address, i) => address !== image.anchors[i])) {
    return (
      `a guest heap of ${image.memoryBytes} bytes with handles at ${image.anchors.join(',')}, but the repeated setup gave ` +
      `${sizeNow} bytes with handles at ${anchors.join(',')} (the runtime or the setup changed)`
    );
  }
  const malformed = sparseImageProblem(image.sparse, sizeNow);
  return malformed && `a malformed guest heap image: ${malformed}`;
}

/** The world during a restore's setup: what it hands out is overwritten by the checkpoint's heap. */
const SETUP_WORLD: GuestWorld = { now: () => 0, randomBytes: (length) => new Uint8Array(length) };
let warming: Promise<void> | undefined;

export interface GuestOptions {
  source: string;
  programName: string;
  limits: GuestLimits;
  world: GuestWorld;
}

export class Guest {
  private pollsUsed = 0;
  private pollsAllowed = Infinity;
  /** Wasm heap growth allowed now: the guest's limit, plus headroom while the host collects effects. */
  private heapGrowthAllowed: number;
  private disposed = false;
  private broken = false;
  /** The highest request id delivered: the host accepts answers only to requests that arrived. */
  private requestIdMax = 0;

  private constructor(
    private readonly runtime: QuickJSRuntime,
    private readonly context: QuickJSContext,
    private readonly dispatcher: QuickJSHandle,
    private readonly deliverFn: QuickJSHandle,
    private readonly takeEffectsFn: QuickJSHandle,
    private readonly endEventFn: QuickJSHandle,
    private readonly limits: GuestLimits,
    private world: GuestWorld,
    private readonly memory: WebAssembly.Memory,
  ) {
    this.heapGrowthAllowed = limits.memoryBytesMax;
  }

  /**
   * Creates the runtime and context (QuickJS seeds Math.random from the clock here: a logged read),
   * evaluates the prelude and the program. The caller then delivers the `start` event.
   */
  static async create(options: GuestOptions): Promise<Guest> {
    const guest = await Guest.setUp(options.limits, options.world);
    try {
      guest.loadProgram(options.source, options.programName);
    } catch (error) {
      guest.dispose();
      throw error;
    }
    return guest;
  }

  /**
   * A guest in the state `image` was taken in: the setup is repeated identically in a memory of the
   * image's size (so its handles land where the original's did), then the image is copied over it.
   * The program is not evaluated again: its state is in the image. `world` serves the next events;
   * `requestIdMax` is the host-side bound on answers the original held (see requestIdMaxNow).
   */
  static async restore(limits: GuestLimits, world: GuestWorld, image: HeapImage, requestIdMax: number): Promise<Guest> {
    const guest = await Guest.setUp(limits, SETUP_WORLD, newLinearMemory(image.memoryBytes));
    const anchors = guest.anchors();
    const sizeNow = guest.memory.buffer.byteLength;
    const problem = restoreProblem(image, sizeNow, anchors);
    if (problem) {
      guest.dispose();
      throw new Error(`invariant broken: restoring ${problem}`);
    }
    // The setup wrote there too: the image's memory is zeros wherever it holds no page.
    restoreSparse(new Uint8Array(guest.memory.buffer), image.sparse);
    guest.world = world;
    guest.requestIdMax = requestIdMax;
    return guest;
  }

  /**
   * Sets up one throwaway sandbox (QuickJS, prelude, Web APIs; no program, the fixed setup world) so
   * that V8 has compiled, and begun to optimize, the wasm code every guest's setup runs: a node's
   * first real guest then costs about what later ones do. Once per process; nothing of it is kept.
   */
  static warmUp(): Promise<void> {
    warming ??= Guest.setUp(DEFAULT_GUEST_LIMITS, SETUP_WORLD).then((guest) => guest.dispose());
    return warming;
  }

  /** Runtime, limits, context, host functions and prelude, in this order always (a restore depends on it). */
  private static async setUp(limits: GuestLimits, world: GuestWorld, wasmMemory?: WebAssembly.Memory): Promise<Guest> {
    let guest: Guest | undefined;
    const { module, memory } = await loadOwnedQuickJS(
      () => (guest ? guest.world : world).now(),
      () => (guest ? guest.heapGrowthAllowed : limits.memoryBytesMax),
      wasmMemory,
    );
    const runtime = module.newRuntime();
    runtime.setMemoryLimit(limits.memoryBytesMax);
    runtime.setMaxStackSize(limits.stackBytesMax);
    const context = runtime.newContext();
    await yieldToEventLoop();
    // Host functions the prelude captures privately; they are never globals.
    const hostRandom = context.newFunction('hostRandom', (lengthHandle) => {
      const length = context.getNumber(lengthHandle);
      // Only the prelude holds this function and it checks the count; the host checks again.
      if (!Number.isInteger(length) || length < 0 || length > RANDOM_BYTES_PER_CALL_MAX) throw new RangeError(`random bytes: a count of 0..${RANDOM_BYTES_PER_CALL_MAX} is needed, got ${length}`);
      const bytes = (guest ? guest.world : world).randomBytes(length);
      assert(bytes.length === length, 'world returned the wrong number of random bytes');
      return context.newArrayBuffer(bytes.slice().buffer);
    });
    const hostClockMs = context.newFunction('hostClockMs', () => context.newNumber((guest ? guest.world : world).now()));
    const faultMessages = context.newString(JSON.stringify(faultMessagesFor(limits)));
    // core-js-pure first: it must find no URL of its own while it loads (it would wrap it).
    const urlLib = context.unwrapResult(context.evalCode(URL_LIB_SOURCE, 'lockstep:url-lib', { type: 'global' }));
    await yieldToEventLoop();
    const web = context.unwrapResult(context.evalCode(WEB_BUNDLE_SOURCE, 'lockstep:web', { type: 'global', strict: true }));
    await yieldToEventLoop();
    const preludeFactory = context.unwrapResult(context.evalCode(PRELUDE_SOURCE, 'lockstep:prelude', { type: 'global', strict: true }));
    const dispatcher = context.unwrapResult(context.callFunction(preludeFactory, context.undefined, hostRandom, hostClockMs, faultMessages, web, urlLib));
    preludeFactory.dispose();
    web.dispose();
    urlLib.dispose();
    hostRandom.dispose();
    hostClockMs.dispose();
    faultMessages.dispose();
    const deliverFn = context.getProp(dispatcher, 'deliver');
    const takeEffectsFn = context.getProp(dispatcher, 'takeEffects');
    const endEventFn = context.getProp(dispatcher, 'endEvent');
    guest = new Guest(runtime, context, dispatcher, deliverFn, takeEffectsFn, endEventFn, limits, world, memory);
    runtime.setInterruptHandler(() => {
      cpuSlice(); // heartbeats keep going while one event runs long
      return ++guest!.pollsUsed > guest!.pollsAllowed;
    });
    return guest;
  }

  private anchors(): number[] {
    return [this.dispatcher.value, this.deliverFn.value, this.takeEffectsFn.value, this.endEventFn.value] as unknown as number[];
  }

  /**
   * A copy of the guest's whole QuickJS state. Call it between events only (the host is never inside
   * the guest then, so the wasm stack is empty and every QuickJS structure is consistent).
   */
  snapshotHeap(): HeapImage {
    assert(!this.disposed && !this.broken, 'snapshot of a disposed or broken guest');
    const memory = new Uint8Array(this.memory.buffer);
    return { sparse: sparseCopy(memory), memoryBytes: memory.length, anchors: this.anchors() };
  }

  /** The whole live linear memory, not a copy: for hashing it where no guest code can run meanwhile. */
  heapView(): Uint8Array {
    return new Uint8Array(this.memory.buffer);
  }

  /** Host-side state the guest observes: answers to requests above it are refused. */
  get requestIdMaxNow(): number {
    return this.requestIdMax;
  }

  /**
   * Fault injection only (LOCKSTEP_FAULT_PERTURB_STATE): changes the guest's heap without changing
   * anything it answers, as a silent divergence would. The online check must catch it at the next checkpoint.
   */
  injectSilentDivergence(): void {
    const result = this.context.evalCode('globalThis.__lockstepInjectedFault = (globalThis.__lockstepInjectedFault || 0) + 1;', 'lockstep:fault', { type: 'global' });
    this.context.unwrapResult(result).dispose();
  }

  /**
   * Inspection only (`lockstep inspect`): evaluates `expression` in the guest's global scope (sloppy
   * mode, with `program` bound to the namespace of the module named `moduleName`: its exports) within
   * one event's CPU budget, runs the promise jobs it set off (a promise's settled value is the result),
   * and returns the value as JSON text (undefined when it has none), or what it threw. `world` serves
   * any clock or entropy read meanwhile. It runs guest code, so the heap changes: the caller must not
   * replay on from this state (take a copy before, and restore it).
   */
  evaluateForInspection(expression: string, world: GuestWorld, moduleName: string): { ok: true; json: string | undefined } | { ok: false; message: string } {
    assert(!this.disposed && !this.broken, 'inspection of a disposed or broken guest');
    const { context } = this;
    const eventWorld = this.world;
    this.world = world;
    this.pollsUsed = 0;
    this.pollsAllowed = this.limits.cpuPollsPerEventMax;
    const faults: EventOutcome['faults'] = [];
    try {
      const namespace = this.settled(context.evalCode(`import * as program from ${JSON.stringify(moduleName)}; export { program };`, 'lockstep:inspect-program', { type: 'module' }), faults);
      const program = namespace.ok ? context.getProp(namespace.value, 'program') : context.undefined;
      if (namespace.ok) namespace.value.dispose();
      const wrapper = context.evalCode(`(function (program) { return eval(${JSON.stringify(expression)}); })`, 'lockstep:inspect', { type: 'global' });
      if (wrapper.error) {
        program.dispose();
        return { ok: false, message: this.consumeFault(wrapper.error).message };
      }
      const called = context.callFunction(wrapper.value, context.undefined, program);
      wrapper.value.dispose();
      program.dispose();
      const result = this.settled(called, faults);
      if (!result.ok) return result;
      if (faults.length > 0) {
        result.value.dispose();
        return { ok: false, message: faults[0].message };
      }
      // dump() stringifies natively (JS_JSONStringify), not through the guest's JSON global.
      const dumped: unknown = context.dump(result.value);
      result.value.dispose();
      return { ok: true, json: dumped === undefined ? undefined : JSON.stringify(dumped, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) };
    } finally {
      this.world = eventWorld;
      this.pollsAllowed = Infinity;
    }
  }

  /** Inspection: a call's value after every promise job ran; a promise becomes its settled value. The caller disposes `value`. */
  private settled(
    result: ReturnType<QuickJSContext['evalCode']>,
    faults: EventOutcome['faults'],
  ): { ok: true; value: QuickJSHandle } | { ok: false; message: string } {
    const { context } = this;
    if (result.error) {
      this.drainJobs(faults);
      return { ok: false, message: this.consumeFault(result.error).message };
    }
    const value = result.value;
    this.drainJobs(faults);
    if (context.typeof(value) !== 'object' || !isPromise(context, value)) return { ok: true, value };
    const state = context.getPromiseState(value);
    value.dispose();
    if (state.type === 'pending') return { ok: false, message: 'the promise it returned never settled (nothing more happens between events)' };
    if (state.type === 'rejected') return { ok: false, message: this.consumeFault(state.error).message };
    return { ok: true, value: state.value };
  }

  /** Going live or replaying is a switch of the doorway, nothing else. */
  setWorld(world: GuestWorld): void {
    this.world = world;
  }

  private loadProgram(source: string, programName: string): void {
    const { context, runtime } = this;
    this.pollsUsed = 0;
    this.pollsAllowed = this.limits.cpuPollsPerEventMax;
    try {
      const result = context.evalCode(source, programName, { type: 'module', strict: true });
      if (result.error) {
        const error = context.dump(result.error);
        result.error.dispose();
        throw new GuestLoadError(`The guest program ${programName} failed to load: ${describeDumped(error)}. Fix the program and start again.`);
      }
      let namespace = result.value;
      if (context.typeof(namespace) === 'object' && isPromise(context, namespace)) {
        runtime.executePendingJobs(-1);
        const state = context.getPromiseState(namespace);
        namespace.dispose();
        if (state.type !== 'fulfilled') {
          const detail = state.type === 'rejected' ? describeDumped(context.dump(state.error)) : 'top-level await never finished';
          if (state.type === 'rejected') state.error.dispose();
          throw new GuestLoadError(`The guest program ${programName} failed to load: ${detail}.`);
        }
        namespace = state.value;
      }
      const set = context.getProp(this.dispatcher, 'setProgram');
      const setResult = context.callFunction(set, this.dispatcher, namespace);
      set.dispose();
      namespace.dispose();
      if (setResult.error) {
        const error = context.dump(setResult.error);
        setResult.error.dispose();
        throw new GuestLoadError(`The guest program ${programName} cannot be used: ${describeDumped(error)}.`);
      }
      setResult.value.dispose();
    } finally {
      this.pollsAllowed = Infinity;
    }
  }

  /**
   * Runs one event to completion: its synchronous part, then every promise job it set off, then the
   * prelude's end of event (env.storage's write), still inside the event's CPU budget. An event whose
   * synchronous part leaves no promise job and nothing for the end of event to do (most requests)
   * takes one call into the guest: deliver() hands back its effects. Otherwise the host drains the
   * jobs, calls endEvent() and takes the rest of the effects, as separate calls.
   */
  deliver(event: GuestEvent): EventOutcome {
    assert(!this.disposed, 'deliver on a disposed guest');
    assert(!this.broken, 'deliver on a guest the host failed inside (see the error that broke it)');
    const { context } = this;
    const faults: EventOutcome['faults'] = [];
    if (event.kind === 'request') this.requestIdMax = Math.max(this.requestIdMax, event.id);
    this.pollsUsed = 0;
    this.pollsAllowed = this.limits.cpuPollsPerEventMax;
    const args = argumentsForGuest(context, event);
    let effects: Effect[] = [];
    let ended = false;
    try {
      const result = context.callFunction(this.deliverFn, this.dispatcher, args);
      let endPending = true;
      let taken = false;
      if (result.error) faults.push(this.consumeFault(result.error));
      else {
        // The effects so far with the end flag (see readEffects), or 'n': not taken (jobs will run, or no room).
        const value = result.value;
        try {
          this.withHeadroom(() => {
            const taking = this.readEffects(value);
            if (!taking) return;
            taken = true;
            endPending = taking.endFlag;
            effects = taking.effects;
          });
        } finally {
          value.dispose();
        }
      }
      const jobsRan = this.drainJobs(faults);
      ended = taken && !jobsRan && !endPending;
      if (!ended) {
        // The prelude's end of event (env.storage's write), still inside the event's CPU budget.
        const endResult = context.callFunction(this.endEventFn, this.dispatcher);
        if (endResult.error) faults.push(this.consumeFault(endResult.error));
        else endResult.value.dispose();
        this.drainJobs(faults);
      }
    } catch (error) {
      // A host exception unwound through QuickJS (V8's own stack overflowed before the guest's stack
      // limit): the runtime is left inconsistent and where it happened depends on the host, not the log.
      this.broken = true;
      throw new Error(
        `invariant broken: the host failed inside the guest (${error instanceof Error ? error.message : String(error)}) before the guest's ` +
          `stack limit of ${this.limits.stackBytesMax} bytes was reached; lower --stack-kb. This guest cannot continue.`,
      );
    } finally {
      for (const handle of args) handle.dispose();
    }
    const cpuPolls = this.pollsUsed;
    this.pollsAllowed = Infinity;
    if (!ended) effects = effects.concat(this.takeEffects());
    // A request whose handler was stopped by a limit still gets an answer: same on record and replay.
    if (event.kind === 'request' && faults.length > 0 && !effects.some((e) => e.type === 'respond' && e.requestId === event.id)) {
      const { fault, message } = faults[0];
      effects.push({ type: 'respond', requestId: event.id, status: 500, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ error: fault, message }) });
    } else {
      for (const { fault, message } of faults) effects.push({ type: 'console', level: 'error', text: `[lockstep] ${fault}: ${message}` });
    }
    return { effects, cpuPolls, faults };
  }

  /** Runs every pending promise job (in rounds: a round stops at a job that throws). True if any ran. */
  private drainJobs(faults: EventOutcome['faults']): boolean {
    let round = 0;
    for (; round < JOB_ROUNDS_MAX && this.runtime.hasPendingJob(); round++) {
      const jobs = this.runtime.executePendingJobs(-1);
      if (jobs.error) faults.push(this.consumeFault(jobs.error));
      else jobs.value; // a count, nothing to dispose
    }
    return round > 0;
  }

  /** Runs `read` with the host's headroom above the guest's memory limit (copying effects out allocates inside QuickJS). */
  private withHeadroom<T>(read: () => T): T {
    const { runtime } = this;
    runtime.setMemoryLimit(this.limits.memoryBytesMax + HOST_MEMORY_HEADROOM_BYTES);
    this.heapGrowthAllowed = this.limits.memoryBytesMax + HOST_MEMORY_HEADROOM_BYTES;
    try {
      return read();
    } finally {
      runtime.setMemoryLimit(this.limits.memoryBytesMax);
      this.heapGrowthAllowed = this.limits.memoryBytesMax;
    }
  }

  /**
   * The effects in a prelude container: [text, blob 0, blob 1, ...], where text is the end flag ('0' or
   * '1'), a letter per blob ('s' text, 'b' bytes) and the effects' JSON (the prelude's takeSoFar).
   * Undefined for the container deliver() answers with when it did not copy them ('n').
   */
  private readEffects(handle: QuickJSHandle): { endFlag: boolean; effects: Effect[] } | undefined {
    const { context } = this;
    const text = context.getProp(handle, 0).consume((h) => context.getString(h));
    if (text === 'n') return undefined;
    const jsonAt = text.indexOf('[');
    assert(jsonAt >= 1, 'the prelude hands over its effects as flag, blob kinds and JSON');
    const blobs: unknown[] = [];
    for (let i = 1; i < jsonAt; i++) {
      blobs.push(context.getProp(handle, i).consume((h) => (text[i] === 's' ? context.getString(h) : readBlob(context, h))));
    }
    return { endFlag: text[0] === '1', effects: decodeEffects(text.slice(jsonAt), blobs, { requestIdMax: this.requestIdMax }) };
  }

  private takeEffects(): Effect[] {
    const { context } = this;
    return this.withHeadroom(() => {
      // A null-prototype array the prelude built after the guest ran: reading it runs no guest code.
      const handle = context.unwrapResult(context.callFunction(this.takeEffectsFn, this.dispatcher));
      try {
        const taken = this.readEffects(handle);
        assert(taken, 'takeEffects always hands over the effects');
        return taken.effects;
      } finally {
        handle.dispose();
      }
    });
  }

  private consumeFault(errorHandle: QuickJSHandle): { fault: GuestFault; message: string } {
    const dumped = this.context.dump(errorHandle);
    errorHandle.dispose();
    const text = describeDumped(dumped);
    const messages = faultMessagesFor(this.limits);
    if (/interrupted/.test(text)) return { fault: 'cpu_budget_exceeded', message: messages.cpu_budget_exceeded };
    if (/out of memory/i.test(text)) return { fault: 'memory_limit_exceeded', message: messages.memory_limit_exceeded };
    if (/stack overflow|call stack/i.test(text)) return { fault: 'stack_limit_exceeded', message: messages.stack_limit_exceeded };
    return { fault: 'guest_threw', message: text };
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    // Freeing a runtime that a host exception unwound through aborts on the objects it leaked.
    if (this.broken) return;
    this.deliverFn.dispose();
    this.takeEffectsFn.dispose();
    this.endEventFn.dispose();
    this.dispatcher.dispose();
    this.context.dispose();
    this.runtime.dispose();
  }
}

/** A NUL, or a lone surrogate (UTF-8 cannot carry it). */
const NOT_PASSABLE = /\0|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Strings a host string handle carries exactly: it is passed as UTF-8 up to a NUL, so neither a NUL nor a lone surrogate. */
function passesAsString(text: string): boolean {
  return !NOT_PASSABLE.test(text);
}

/**
 * The arguments of the prelude's deliver() for `event` (the caller disposes them). A request goes as
 * its fields: id, method, path, the header pairs as JSON text (the guest parses them only if it asks),
 * the body as text when it is UTF-8 (nearly all: decoded natively here, so the guest never decodes it
 * byte by byte; its UTF-8 is exactly the logged bytes again), else null and its bytes as an ArrayBuffer.
 * Any other event, or a request with a string a string handle cannot carry, goes as JSON text. All are
 * pure functions of the logged event.
 */
function argumentsForGuest(context: QuickJSContext, event: GuestEvent): QuickJSHandle[] {
  if (event.kind !== 'request') return [context.newString(JSON.stringify(event))];
  const bytes = typeof event.body === 'string' ? undefined : event.body;
  const text = bytes === undefined ? (event.body as string) : isUtf8(bytes) ? Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('utf8') : undefined;
  if (passesAsString(event.method) && passesAsString(event.path) && (text === undefined || passesAsString(text))) {
    return [
      context.newNumber(event.id),
      context.newString(event.method),
      context.newString(event.path),
      context.newString(JSON.stringify(event.headers)),
      text === undefined ? context.null : context.newString(text),
      text === undefined ? context.newArrayBuffer(bytes!.slice().buffer) : context.undefined,
    ];
  }
  if (text !== undefined) return [context.newString(JSON.stringify({ ...event, body: text }))];
  return [context.newString(JSON.stringify({ ...event, body: null })), context.newArrayBuffer(bytes!.slice().buffer)];
}

/** The one wording of each limit fault, used by the host and (for faults the prelude catches) by the prelude. */
function faultMessagesFor(limits: GuestLimits): Record<Exclude<GuestFault, 'guest_threw'>, string> {
  return {
    cpu_budget_exceeded: `the handler used more than its CPU budget of ${limits.cpuPollsPerEventMax} interrupt polls for one event (--cpu-polls-max) and was stopped`,
    memory_limit_exceeded: `the guest ran out of memory: it exceeded its memory limit of ${limits.memoryBytesMax} bytes (--memory-mb)`,
    stack_limit_exceeded: `the guest exceeded its stack limit of ${limits.stackBytesMax} bytes (--stack-kb): stack overflow`,
  };
}

/** A body or file content: a string, or bytes (copied out of the guest's memory). */
function readBlob(context: QuickJSContext, handle: QuickJSHandle): unknown {
  const type = context.typeof(handle);
  if (type === 'string') return context.getString(handle);
  if (type !== 'object') return undefined;
  try {
    const bytes = context.getArrayBuffer(handle);
    try {
      return bytes.value.slice();
    } finally {
      bytes.dispose();
    }
  } catch {
    return undefined; // not an ArrayBuffer: the boundary check refuses it
  }
}

function isPromise(context: QuickJSContext, handle: QuickJSHandle): boolean {
  const state = context.getPromiseState(handle);
  if (state.type === 'fulfilled' && state.notAPromise) return false;
  if (state.type === 'fulfilled') state.value.dispose();
  if (state.type === 'rejected') state.error.dispose();
  return true;
}

function describeDumped(value: unknown): string {
  if (value && typeof value === 'object' && 'message' in value) {
    const v = value as { name?: string; message?: string };
    return `${v.name ?? 'Error'}: ${v.message}`;
  }
  return String(value);
}

/**
 * The setup runs for 100-400 ms in all; between its steps the event loop gets a turn, so a node
 * setting up a guest (a secondary on its first entry, a restore) still answers heartbeats. Nothing
 * else can reach this guest meanwhile, so the setup stays the same step for step.
 */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
