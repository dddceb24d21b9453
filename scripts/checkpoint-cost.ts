// Measures what a checkpoint costs per bench guest: the pause (how long the event loop is held:
// heap copy + state digest + logging the checkpoint entry), the time to encode it off the event
// loop, its size, and the time to restore it. Each guest runs live in this process with an
// in-memory world (timers fire in order, disk operations complete at once), so only the checkpoint
// is measured. Usage: npx tsx scripts/checkpoint-cost.ts [--checkpoints 40] [--events-between 200] [--json]
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { checkpointLive, identityOf, restoreCheckpoint } from '../src/checkpoint/checkpoint.js';
import { percentile } from '../src/bench/stats.js';
import { requestSource, workloadFor } from '../src/bench/workloads.js';
import { EntryQueue } from '../src/engine/entry-queue.js';
import { Executor, type ExecutorOptions } from '../src/engine/executor.js';
import { loadProgram } from '../src/engine/program.js';
import type { Entry, EventEntry } from '../src/log/entries.js';
import { DEFAULT_GUEST_LIMITS } from '../src/sandbox/guest.js';
import { REPO_DIR } from './record-fixtures.lib.js';

const flag = (name: string, fallback: number) => {
  const at = process.argv.indexOf(name);
  return at > 0 ? Number(process.argv[at + 1]) : fallback;
};
const CHECKPOINTS = flag('--checkpoints', 40);
const EVENTS_BETWEEN = flag('--events-between', 200);
const JSON_OUT = process.argv.includes('--json');

type Completion = Exclude<EventEntry, { kind: 'start' | 'request' }>;

interface Row {
  guest: string;
  heapMiB: number;
  pauseP50Ms: number;
  pauseP99Ms: number;
  encodeP50Ms: number;
  bytesP50: number;
  rawBytes: number;
  usedMiB: number;
  restoreP50Ms: number;
}

async function measure(programPath: string): Promise<Row> {
  const program = await loadProgram(programPath);
  const next = requestSource(workloadFor(programPath));
  const files = new Map<string, string>();
  const pending: Completion[] = [];
  const log: Entry[] = [];
  const options: ExecutorOptions = {
    source: program.source,
    programName: program.name,
    limits: DEFAULT_GUEST_LIMITS,
    hooks: {
      onEntry: (_seq, entry) => log.push(entry),
      onOutput: ({ effect }) => {
        if (effect.type !== 'write') return;
        files.set(effect.path, effect.data);
        pending.push({ kind: 'write', opId: effect.opId, ok: true });
      },
      actions: {
        armTimer: (timerId) => pending.push({ kind: 'timer', timerId }),
        clearTimer: () => {},
        startRead: (opId, path) => {
          const data = files.get(path);
          pending.push(data === undefined ? { kind: 'read', opId, ok: false, error: 'ENOENT' } : { kind: 'read', opId, ok: true, data });
        },
      },
    },
  };
  const executor = await Executor.bootLive(options);
  const drain = () => {
    while (pending.length > 0) executor.submit(pending.shift()!);
  };
  const pauses: number[] = [];
  const encodes: number[] = [];
  const sizes: number[] = [];
  const restores: number[] = [];
  let rawBytes = 0;
  let heapBytes = 0;
  let usedBytes = 0;
  let request = 0;
  for (let c = 0; c < CHECKPOINTS; c++) {
    for (let i = 0; i < EVENTS_BETWEEN; i++) {
      const r = next(request++);
      const headers: Array<[string, string]> = Object.entries(r.headers ?? {}).map(([k, v]) => [k.toLowerCase(), String(v)]);
      executor.submit({ kind: 'request', method: r.method, path: r.path, headers, body: new TextEncoder().encode(r.body ?? '') });
      drain();
    }
    const started = performance.now();
    const checkpoint = checkpointLive(executor, identityOf(program, DEFAULT_GUEST_LIMITS));
    const { bytes, header } = await checkpoint.done;
    encodes.push(performance.now() - started - checkpoint.pauseMs);
    pauses.push(checkpoint.pauseMs);
    sizes.push(bytes.length);
    rawBytes = header.bodyRawBytes;
    heapBytes = header.heapBytes;
    usedBytes = header.heapUsedBytes;
    if (c % 8 === 0) {
      // Restore in this process (a fresh guest instance), replaying nothing: the cost of getting there.
      const t = performance.now();
      const queue = new EntryQueue(header.seq + 1);
      const restored = await restoreCheckpoint(bytes, program, { ...options, hooks: { ...options.hooks, onEntry: () => {} } }, queue);
      restores.push(performance.now() - t);
      restored.executor.dispose();
    }
  }
  executor.dispose();
  log.length = 0;
  return {
    guest: program.name,
    heapMiB: heapBytes / 1048576,
    usedMiB: usedBytes / 1048576,
    pauseP50Ms: percentile(pauses, 0.5),
    pauseP99Ms: percentile(pauses, 0.99),
    encodeP50Ms: percentile(encodes, 0.5),
    bytesP50: percentile(sizes, 0.5),
    rawBytes,
    restoreP50Ms: percentile(restores, 0.5),
  };
}

const guestDir = join(REPO_DIR, 'guest-programs');
const guests = readdirSync(guestDir).filter((n) => n.startsWith('bench-') && n.endsWith('.js')).sort();
const rows: Row[] = [];
for (const name of guests) rows.push(await measure(join(guestDir, name)));
if (JSON_OUT) {
  console.log(JSON.stringify({ checkpoints: CHECKPOINTS, eventsBetween: EVENTS_BETWEEN, rows }, null, 2));
} else {
  console.log(`${CHECKPOINTS} checkpoints per guest, ${EVENTS_BETWEEN} requests between them (Node ${process.version})`);
  console.log('| guest | memory (used) | pause p50 | pause p99 | encode p50 (off the loop) | checkpoint size | uncompressed | restore p50 |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    console.log(
      `| ${r.guest} | ${r.heapMiB.toFixed(0)} MiB (${r.usedMiB.toFixed(1)}) | ${r.pauseP50Ms.toFixed(1)} ms | ${r.pauseP99Ms.toFixed(1)} ms | ${r.encodeP50Ms.toFixed(0)} ms | ` +
        `${(r.bytesP50 / 1024).toFixed(0)} KiB | ${(r.rawBytes / 1048576).toFixed(1)} MiB | ${r.restoreP50Ms.toFixed(0)} ms |`,
    );
  }
}
