// Runs a guest source in-process through a live executor with a scripted world (timers fire, reads
// and writes complete at once, against an in-memory file map), records its log, and replays the log
// in a second executor: the sandbox tests need no ports or processes, and every run is checked for
// replay agreement.
import { Executor, type Output } from '../../src/engine/executor.js';
import type { Entry, GuestLimits } from '../../src/log/entries.js';
import { DEFAULT_GUEST_LIMITS } from '../../src/sandbox/guest.js';
import type { Effect, ResponseBody } from '../../src/sandbox/effects.js';

export interface Ask {
  method?: string;
  path: string;
  headers?: Array<[string, string]>;
  body?: string;
}

export interface Answer {
  status: number;
  headers: Record<string, string>;
  body: ResponseBody;
  json: any;
}

export interface Run {
  executor: Executor;
  outputs: Output[];
  entries: Array<[number, Entry]>;
  files: Map<string, string>;
  /** The console lines released so far, as "level text". */
  console(): string[];
  /** Every effect of a kind the executor passed to the world (not outputs). */
  actions: Array<{ kind: string; args: unknown[] }>;
  ask(request: Ask): Answer;
  dispose(): void;
}

type Completion = Parameters<Executor['submit']>[0];

export async function recordRun(source: string, limits: Partial<GuestLimits> = {}): Promise<Run> {
  const outputs: Output[] = [];
  const entries: Array<[number, Entry]> = [];
  const completions: Completion[] = [];
  const actions: Run['actions'] = [];
  const files = new Map<string, string>();
  const executor = await Executor.bootLive({
    source,
    programName: 'test-guest.js',
    limits: { ...DEFAULT_GUEST_LIMITS, ...limits },
    hooks: {
      onEntry: (seq, entry) => entries.push([seq, entry]),
      onOutput: (output) => {
        outputs.push(output);
        const effect = output.effect;
        if (effect.type === 'write') {
          files.set(effect.path, effect.data);
          completions.push({ kind: 'write', opId: effect.opId, ok: true });
        }
      },
      actions: {
        armTimer: (timerId, dueMs) => {
          actions.push({ kind: 'armTimer', args: [timerId, dueMs] });
          completions.push({ kind: 'timer', timerId });
        },
        clearTimer: (timerId) => actions.push({ kind: 'clearTimer', args: [timerId] }),
        startRead: (opId, path) => {
          actions.push({ kind: 'startRead', args: [opId, path] });
          const data = files.get(path);
          completions.push(data === undefined ? { kind: 'read', opId, ok: false, error: `ENOENT: no such file ${path}` } : { kind: 'read', opId, ok: true, data });
        },
      },
    },
  });
  const drain = () => {
    for (let i = 0; i < 10_000 && completions.length > 0; i++) executor.submit(completions.shift()!);
  };
  drain();
  return {
    executor,
    outputs,
    entries,
    files,
    actions,
    console: () => outputs.flatMap((o) => (o.effect.type === 'console' ? [`${o.effect.level} ${o.effect.text}`] : [])),
    ask(request) {
      const seq = executor.submit({ kind: 'request', method: request.method ?? 'GET', path: request.path, headers: request.headers ?? [], body: new TextEncoder().encode(request.body ?? '') });
      drain();
      const respond = outputs.find((o): o is Output & { effect: Extract<Effect, { type: 'respond' }> } => o.effect.type === 'respond' && o.effect.requestId === seq);
      if (!respond) throw new Error(`request #${seq} ${request.path} got no answer`);
      const { status, headers, body } = respond.effect;
      let json: unknown;
      try {
        json = typeof body === 'string' ? JSON.parse(body) : undefined;
      } catch {
        json = undefined;
      }
      return { status, headers, body, json };
    },
    dispose: () => executor.dispose(),
  };
}

/** Replays a recorded run in a fresh executor; returns its outputs digest (throws on divergence). */
export async function replayRun(source: string, run: Run, limits: Partial<GuestLimits> = {}): Promise<string> {
  let index = 0;
  const { entries } = run;
  const replayer = await Executor.bootReplay(
    { source, programName: 'test-guest.js', limits: { ...DEFAULT_GUEST_LIMITS, ...limits }, hooks: { onEntry: () => {}, onOutput: () => {}, actions: { armTimer: () => {}, clearTimer: () => {}, startRead: () => {} } } },
    { take: () => (index < entries.length ? { seq: entries[index]![0], entry: entries[index++]![1] } : undefined), nextSeq: () => (index < entries.length ? entries[index]![0] : entries.length + 1) },
  );
  try {
    while (replayer.replayNext()) {
      /* every entry */
    }
    return replayer.outputsDigest();
  } finally {
    replayer.dispose();
  }
}
