// Call loops with no HTTP, no log and no other process: what QuickJS itself allows. Run in a
// worker process pinned to the node core, for a fixed time after a warm-up.
//  - guest-deliver: Lockstep's Guest.deliver in a loop with a fake world (prelude, effects, limits).
//  - raw-call: quickjs-emscripten-core callFunction on a trivial handler, no Lockstep at all.
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { newQuickJSWASMModuleFromVariant, type QuickJSSyncVariant } from 'quickjs-emscripten-core';
import releaseSyncVariant from '@jitl/quickjs-wasmfile-release-sync';
import { DEFAULT_GUEST_LIMITS, Guest, type GuestEvent, type GuestWorld } from '../sandbox/guest.js';

export interface LoopTask {
  kind: 'guest-deliver' | 'raw-call';
  /** guest-deliver: the guest program. */
  program?: string;
  warmupMs: number;
  durationMs: number;
}

export interface LoopResult {
  calls: number;
  elapsedMs: number;
  callsPerS: number;
}

/** Runs `step` in batches until `durationMs` has passed (after `warmupMs` not counted). */
function timeLoop(step: (i: number) => void, warmupMs: number, durationMs: number): LoopResult {
  const BATCH = 64;
  let i = 0;
  const warmEnd = performance.now() + warmupMs;
  while (performance.now() < warmEnd) for (let b = 0; b < BATCH; b++) step(i++);
  const start = performance.now();
  const end = start + durationMs;
  let calls = 0;
  let now = start;
  while (now < end) {
    for (let b = 0; b < BATCH; b++) step(i++);
    calls += BATCH;
    now = performance.now();
  }
  const elapsedMs = now - start;
  return { calls, elapsedMs, callsPerS: (calls * 1000) / elapsedMs };
}

/** A request as `Guest.deliver` gets it from the HTTP layer (the event JSON is the same in both loops). */
function requestEvent(id: number): GuestEvent {
  return { kind: 'request', id, method: 'GET', path: '/', headers: [['host', '127.0.0.1']], body: '' };
}

export async function runLoopTask(task: LoopTask): Promise<LoopResult> {
  if (task.kind === 'guest-deliver') {
    let clock = 1_700_000_000_000;
    const world: GuestWorld = { now: () => clock++, randomBytes: (n) => new Uint8Array(n) };
    const program = task.program!;
    const guest = await Guest.create({ source: await readFile(program, 'utf8'), programName: basename(program), limits: DEFAULT_GUEST_LIMITS, world });
    try {
      guest.deliver({ kind: 'start' });
      return timeLoop((i) => {
        const outcome = guest.deliver(requestEvent(i + 2));
        if (outcome.effects.length !== 1) throw new Error(`guest-deliver loop: expected one answer, got ${JSON.stringify(outcome.effects)}`);
      }, task.warmupMs, task.durationMs);
    } finally {
      guest.dispose();
    }
  }
  const module = await newQuickJSWASMModuleFromVariant(releaseSyncVariant as unknown as QuickJSSyncVariant);
  const runtime = module.newRuntime();
  const context = runtime.newContext();
  const handler = context.unwrapResult(context.evalCode('(function (eventJson) { return "ok"; })'));
  try {
    return timeLoop((i) => {
      const arg = context.newString(JSON.stringify(requestEvent(i)));
      const result = context.unwrapResult(context.callFunction(handler, context.undefined, arg));
      arg.dispose();
      if (context.getString(result) !== 'ok') throw new Error('raw-call loop: unexpected answer');
      result.dispose();
    }, task.warmupMs, task.durationMs);
  } finally {
    handler.dispose();
    context.dispose();
    runtime.dispose();
  }
}
