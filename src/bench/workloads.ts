// What the load generator sends to each guest program (one fixed request, repeated).
import { readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { isWorkloadName, makeWorkload, type LoadRequest, type WorkloadName } from '../client/workloads.js';
import { createRng } from '../client/rng.js';
import { GUEST_PROGRAMS_DIR } from './processes.js';

export interface BenchRequest {
  method: string;
  path: string;
  /** Sent as is (UTF-8); empty for none. */
  body: string;
}

export const TRIVIAL_PROGRAM = 'bench-trivial.js';
export const BODY_BYTES = 4096;

/** The echo of bench-plain.js and bench-fetch.js: a small text body, as an API request would carry. */
const ECHO_REQUEST: BenchRequest = { method: 'POST', path: '/echo', body: 'e'.repeat(64) };

const REQUESTS: Record<string, BenchRequest> = {
  'bench-body.js': { method: 'POST', path: '/echo-length', body: 'b'.repeat(BODY_BYTES) },
  'bench-plain.js': ECHO_REQUEST,
  'bench-fetch.js': ECHO_REQUEST,
  'counter.js': { method: 'POST', path: '/increment', body: '' },
};
const DEFAULT_REQUEST: BenchRequest = { method: 'GET', path: '/', body: '' };

/** One fixed request repeated, or a named workload of `lockstep load` (for the demo programs). */
export type BenchWorkload = { kind: 'fixed'; request: BenchRequest } | { kind: 'client'; name: WorkloadName };

export function workloadFor(program: string): BenchWorkload {
  const name = basename(program);
  const fixed = REQUESTS[name];
  if (fixed) return { kind: 'fixed', request: fixed };
  const stem = name.replace(/\.js$/, '');
  if (!name.startsWith('bench-') && isWorkloadName(stem) && stem !== 'generic') return { kind: 'client', name: stem };
  return { kind: 'fixed', request: DEFAULT_REQUEST };
}

/** The request generator of a workload: request i is a function of i and the seed. */
export function requestSource(workload: BenchWorkload, seed = 1): (i: number) => LoadRequest {
  if (workload.kind === 'fixed') {
    const { method, path, body } = workload.request;
    const request: LoadRequest = body ? { method, path, headers: { 'content-type': 'text/plain' }, body } : { method, path };
    return () => request;
  }
  const generate = makeWorkload(workload.name);
  const rng = createRng(seed);
  return (i) => generate(i, rng);
}

export function describeWorkload(w: BenchWorkload): string {
  if (w.kind === 'client') return `${w.name} workload of lockstep load`;
  const r = w.request;
  return `${r.method} ${r.path}${r.body ? ` (${Buffer.byteLength(r.body)} B body)` : ''}`;
}

/** Every guest program in guest-programs/, trivial first, then the other bench guests, then the rest. */
export function guestPrograms(): string[] {
  const names = readdirSync(GUEST_PROGRAMS_DIR).filter((n) => n.endsWith('.js'));
  const rank = (n: string) => (n === TRIVIAL_PROGRAM ? 0 : n.startsWith('bench-') ? 1 : 2);
  names.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  return names.map((n) => join(GUEST_PROGRAMS_DIR, n));
}

/**
 * The workloads measured replicated vs unreplicated: one bench guest each (bench-write.js awaits a
 * durable file write per request: the group-commit figure). diskReadBytes is the
 * file data the guest reads per request (bench-disk.js reads its 4 KB file), counted as input.
 * fullRunOnly: left out of --quick unless named with --workloads (the quick run keeps issue 10's
 * four: trivial, write, cpu and body; each workload costs it ~25 s, mostly starting nodes).
 */
export const REPLICATION_WORKLOADS = [
  { name: 'trivial', program: 'bench-trivial.js', diskReadBytes: 0 },
  { name: 'write', program: 'bench-write.js', diskReadBytes: 0 },
  { name: 'cpu', program: 'bench-cpu.js', diskReadBytes: 0 },
  { name: 'clock', program: 'bench-clock.js', diskReadBytes: 0, fullRunOnly: true },
  { name: 'random', program: 'bench-random.js', diskReadBytes: 0, fullRunOnly: true },
  { name: 'body', program: 'bench-body.js', diskReadBytes: 0 },
  { name: 'disk-read', program: 'bench-disk.js', diskReadBytes: 4096, fullRunOnly: true },
  { name: 'timer', program: 'bench-timer.js', diskReadBytes: 0, fullRunOnly: true },
  // The Fetch API against the plain-object contract (the same echo), and env.storage against a file
  // rewritten whole per request (the same 64-key state).
  { name: 'plain', program: 'bench-plain.js', diskReadBytes: 0, fullRunOnly: true },
  { name: 'fetch', program: 'bench-fetch.js', diskReadBytes: 0, fullRunOnly: true },
  { name: 'file', program: 'bench-file.js', diskReadBytes: 0, fullRunOnly: true },
  { name: 'storage', program: 'bench-storage.js', diskReadBytes: 0, fullRunOnly: true },
] as const;

/** The workloads a run measures: those named, else all (all but the fullRunOnly ones when quick). */
export function replicationWorkloadsFor(names: string[] | undefined, quick: boolean): Array<(typeof REPLICATION_WORKLOADS)[number]> {
  return REPLICATION_WORKLOADS.filter((w) => (names ? names.includes(w.name) : !(quick && 'fullRunOnly' in w)));
}
export type ReplicationWorkloadName = (typeof REPLICATION_WORKLOADS)[number]['name'];
