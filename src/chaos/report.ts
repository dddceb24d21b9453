// The chaos run's summary: faults by kind with the client-visible gap and re-protection time
// distributions, the violations found, and the exit code; printed as a table or saved as JSON.
import { latencyStats, type LatencyStats } from '../client/load-client.js';
import type { Violation } from './checkers.js';
import type { FaultRecord, History } from './history.js';

/** The end of each node's output kept in the JSON summary. */
export const NODE_OUTPUT_IN_JSON_CHARS = 4000;

/** Wide enough for the longest fault kind (net-cut-etcd-secondary). */
const KIND_COLUMN_CHARS = 22;

export const CHAOS_EXIT = { ok: 0, correctness: 20, liveness: 21, harness: 22 } as const;

export interface KindSummary {
  count: number;
  notReprotected: number;
  gapMs: LatencyStats;
  reprotectMs: LatencyStats;
}

export interface ChaosSummary {
  seed: number;
  program: string;
  kinds: string[];
  faultsScheduled: number;
  faultsRun: number;
  elapsedMs: number;
  keys: { sent: number; answered: number; givenUp: number; answers: number; readback: number };
  nodesStarted: number;
  byKind: Record<string, KindSummary>;
  all: KindSummary;
  violations: { correctness: number; liveness: number; examples: Violation[] };
  harnessError: string | null;
  notes: string[];
  exitCode: number;
  verdict: 'ok' | 'correctness violation' | 'liveness violation' | 'harness failure';
  faults: FaultRecord[];
  nodes: { id: string; startedAs: string; restartOf?: string; startMs: number; exitMs?: number; exitCode?: number | null; exitSignal?: string | null; notable: { atMs: number; line: string }[]; outputTail: string }[];
}

function kindSummary(faults: FaultRecord[]): KindSummary {
  const reprotect = faults.flatMap((f) => (f.reprotectedMs === null ? [] : [f.reprotectedMs - f.startMs]));
  const round = (s: LatencyStats): LatencyStats => ({ p50Ms: Math.round(s.p50Ms), p99Ms: Math.round(s.p99Ms), maxMs: Math.round(s.maxMs) });
  return { count: faults.length, notReprotected: faults.length - reprotect.length, gapMs: round(latencyStats(faults.map((f) => f.gapMs))), reprotectMs: round(latencyStats(reprotect)) };
}

export function exitCodeOf(violations: Violation[], harnessError: string | null): number {
  if (violations.some((v) => v.class === 'correctness')) return CHAOS_EXIT.correctness;
  if (harnessError) return CHAOS_EXIT.harness;
  if (violations.length > 0) return CHAOS_EXIT.liveness;
  return CHAOS_EXIT.ok;
}

export function summarize(input: { seed: number; program: string; kinds: string[]; faultsScheduled: number; history: History; violations: Violation[]; harnessError: string | null; notes: string[]; examplesPerKindMax: number }): ChaosSummary {
  const { history: h, violations } = input;
  const byKind: Record<string, KindSummary> = {};
  for (const kind of [...new Set(h.faults.map((f) => f.kind))].sort()) byKind[kind] = kindSummary(h.faults.filter((f) => f.kind === kind));
  const perKind = new Map<string, number>();
  const examples = violations.filter((v) => {
    const n = (perKind.get(v.kind) ?? 0) + 1;
    perKind.set(v.kind, n);
    return n <= input.examplesPerKindMax;
  });
  const exitCode = exitCodeOf(violations, input.harnessError);
  const verdicts = { 0: 'ok', 20: 'correctness violation', 21: 'liveness violation', 22: 'harness failure' } as const;
  return {
    seed: input.seed,
    program: input.program,
    kinds: input.kinds,
    faultsScheduled: input.faultsScheduled,
    faultsRun: h.faults.length,
    elapsedMs: Math.round(h.endMs),
    keys: {
      sent: h.keys.length,
      answered: h.keys.filter((k) => k.first).length,
      givenUp: h.keys.filter((k) => !k.first).length,
      answers: h.answers.filter((a) => a.phase === 'load').length,
      readback: h.answers.filter((a) => a.phase === 'readback').length,
    },
    nodesStarted: h.nodes.length,
    byKind,
    all: kindSummary(h.faults),
    violations: { correctness: violations.filter((v) => v.class === 'correctness').length, liveness: violations.filter((v) => v.class === 'liveness').length, examples },
    harnessError: input.harnessError,
    notes: input.notes,
    exitCode,
    verdict: verdicts[exitCode as keyof typeof verdicts],
    faults: h.faults,
    nodes: h.nodes.map((n) => ({ id: n.id, startedAs: n.startedAs, restartOf: n.restartOf, startMs: Math.round(n.startMs), exitMs: n.exitMs === undefined ? undefined : Math.round(n.exitMs), exitCode: n.exitCode, exitSignal: n.exitSignal, notable: n.notable, outputTail: n.outputTail.slice(-NODE_OUTPUT_IN_JSON_CHARS) })),
  };
}

const dist = (s: LatencyStats) => `${String(s.p50Ms).padStart(6)} ${String(s.p99Ms).padStart(6)} ${String(s.maxMs).padStart(6)}`;

export function formatSummary(s: ChaosSummary): string[] {
  const lines = [
    `SEED=${s.seed} ${s.program}: ${s.faultsRun}/${s.faultsScheduled} faults (${s.kinds.join(',')}) in ${(s.elapsedMs / 1000).toFixed(1)} s, ${s.nodesStarted} node processes`,
    `keys sent ${s.keys.sent}, answered ${s.keys.answered}, given up ${s.keys.givenUp}; answers seen ${s.keys.answers}, read back ${s.keys.readback}`,
    '',
    `${'fault kind'.padEnd(KIND_COLUMN_CHARS)} ${'count'.padStart(5)} | ${'gap ms p50    p99    max'.padStart(26)} | ${'re-protect ms p50  p99    max'.padStart(31)} | never`,
  ];
  const row = (name: string, k: KindSummary) => `${name.padEnd(KIND_COLUMN_CHARS)} ${String(k.count).padStart(5)} |     ${dist(k.gapMs)} |          ${dist(k.reprotectMs)} | ${k.notReprotected}`;
  for (const [kind, k] of Object.entries(s.byKind)) lines.push(row(kind, k));
  lines.push(row('all', s.all), '');
  lines.push(`violations: ${s.violations.correctness} correctness, ${s.violations.liveness} liveness`);
  for (const v of s.violations.examples) lines.push(`  ${v.class.toUpperCase()} ${v.kind}: ${v.message}`);
  for (const note of s.notes) lines.push(`note: ${note}`);
  if (s.harnessError) lines.push(`HARNESS FAILURE: ${s.harnessError}`);
  lines.push(`RESULT: ${s.verdict} (exit ${s.exitCode})`);
  return lines;
}
