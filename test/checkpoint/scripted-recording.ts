// Records a real log in-process: a live executor driven by a seeded schedule of requests (some with
// Idempotency-Keys, some retried), timer firings and disk completions delivered late, so that at most
// entries some timers, reads, writes and keys are pending. No real clock sleeps: it is fast and
// covers many boundaries. The log is written with the ordinary LogWriter.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { checkpointLive, identityOf } from '../../src/checkpoint/checkpoint.js';
import { createRng } from '../../src/client/rng.js';
import { Executor } from '../../src/engine/executor.js';
import { loadProgram, makeHeader, type Program } from '../../src/engine/program.js';
import type { Entry } from '../../src/log/entries.js';
import { LogWriter } from '../../src/log/log-file.js';
import { DEFAULT_GUEST_LIMITS } from '../../src/sandbox/guest.js';

export const REPO = join(import.meta.dirname, '..', '..');
export const guestFile = (name: string) => join(REPO, 'guest-programs', `${name}.js`);

type Request = { method: string; path: string; body?: string };

/** Requests each guest serves (the schedule picks among them). */
const REQUESTS: Record<string, Request[]> = {
  counter: [{ method: 'POST', path: '/increment' }, { method: 'GET', path: '/count' }],
  kv: [{ method: 'PUT', path: '/kv/a', body: 'x' }, { method: 'PUT', path: '/kv/b', body: 'y' }, { method: 'GET', path: '/kv/a' }, { method: 'DELETE', path: '/kv/b' }, { method: 'GET', path: '/kv' }],
  bank: [{ method: 'POST', path: '/transfer', body: '{"from":"alice","to":"bob","amount":3}' }, { method: 'POST', path: '/transfer', body: '{"from":"bob","to":"carol","amount":5}' }, { method: 'GET', path: '/total' }],
  cron: [{ method: 'GET', path: '/ticks' }],
  lottery: [{ method: 'POST', path: '/enter', body: '{"name":"ann"}' }, { method: 'POST', path: '/enter', body: '{"name":"ben"}' }, { method: 'POST', path: '/draw' }],
  echo: [{ method: 'POST', path: '/echo', body: 'hello' }, { method: 'GET', path: '/echo' }],
};

export interface Recording {
  program: Program;
  logPath: string;
  entries: number;
  /** Checkpoints the live executor took: the state after entry #seq, in `<dir>/<name>.<seq>.ckpt`. */
  checkpoints: Array<{ seq: number; path: string; stateDigest: string }>;
}

export interface ScriptOptions {
  events?: number;
  seed?: number;
  /** Take a live checkpoint (file and `checkpoint` entry) after every this many events; 0: none. */
  checkpointEveryEvents?: number;
}

/** Records input events of guest `name` into `<dir>/<name>.log`. */
export async function recordScripted(name: string, dir: string, options: ScriptOptions = {}): Promise<Recording> {
  const { events = 300, seed = 7, checkpointEveryEvents = 0 } = options;
  const checkpoints: Recording['checkpoints'] = [];
  const writing: Array<Promise<void>> = [];
  const program = await loadProgram(guestFile(name));
  const rng = createRng(seed);
  const logPath = join(dir, `${name}.log`);
  const writer = await LogWriter.create(logPath, makeHeader(program, DEFAULT_GUEST_LIMITS));
  const timers = new Map<number, number>();
  const reads: number[] = [];
  const writes: number[] = [];
  const files = new Map<string, string>();
  const readPaths = new Map<number, string>();
  const executor = await Executor.bootLive({
    source: program.source,
    programName: program.name,
    limits: DEFAULT_GUEST_LIMITS,
    hooks: {
      onEntry: (_seq: number, entry: Entry) => writer.append([entry]),
      onOutput: ({ effect }) => {
        if (effect.type === 'write') {
          files.set(effect.path, effect.data);
          writes.push(effect.opId);
        }
      },
      actions: {
        armTimer: (timerId, dueMs) => timers.set(timerId, dueMs),
        clearTimer: (timerId) => timers.delete(timerId),
        startRead: (opId, path) => {
          reads.push(opId);
          readPaths.set(opId, path);
        },
      },
    },
  });
  const keys: string[] = [];
  for (let i = 0; i < events; i++) {
    const roll = rng.next();
    if (roll < 0.15 && timers.size > 0) {
      const timerId = [...timers.keys()][rng.int(timers.size)]!;
      timers.delete(timerId);
      executor.submit({ kind: 'timer', timerId });
    } else if (roll < 0.3 && reads.length > 0 && i >= checkpointEveryEvents) {
      // (Guests read once, at their first request: holding that read past the first checkpoint
      // leaves it and the requests waiting on it pending there.)
      const opId = reads.splice(rng.int(reads.length), 1)[0]!;
      const data = files.get(readPaths.get(opId)!);
      executor.submit(data === undefined ? { kind: 'read', opId, ok: false, error: 'ENOENT' } : { kind: 'read', opId, ok: true, data });
    } else if (roll < 0.45 && writes.length > 0) {
      executor.submit({ kind: 'write', opId: writes.splice(rng.int(writes.length), 1)[0]!, ok: true });
    } else {
      const list = REQUESTS[name]!;
      const request = list[rng.int(list.length)]!;
      const headers: Array<[string, string]> = [];
      if (rng.next() < 0.5) {
        // A new key, or a retry of a recent one.
        const key = keys.length > 0 && rng.next() < 0.3 ? keys[keys.length - 1 - rng.int(Math.min(3, keys.length))]! : `k${i}`;
        keys.push(key);
        headers.push(['idempotency-key', key]);
      }
      executor.submit({ kind: 'request', method: request.method, path: request.path, headers, body: new TextEncoder().encode(request.body ?? '') });
    }
    if (checkpointEveryEvents > 0 && (i + 1) % checkpointEveryEvents === 0) {
      const checkpoint = checkpointLive(executor, identityOf(program, DEFAULT_GUEST_LIMITS));
      const path = join(dir, `${name}.${checkpoint.seq}.ckpt`);
      checkpoints.push({ seq: checkpoint.seq, path, stateDigest: checkpoint.stateDigest });
      writing.push(checkpoint.done.then((done) => writeFile(path, done.bytes)));
    }
  }
  await Promise.all(writing);
  executor.logCheck();
  const entries = executor.lastSeq;
  executor.dispose();
  await writer.close();
  return { program, logPath, entries, checkpoints };
}
