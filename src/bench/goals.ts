// The project's performance goals, checked against a run's figures: met or not, and by how much.
// The figures of issue 22's table come first, in its order (CPU per request of each process among
// them), then issue 10's that it does not repeat.
import type { BenchResults, GoalRow, ProgramRow, ReplicationResults } from './results.js';
import type { Spread } from './stats.js';
import { REPLICATION_WORKLOADS } from './workloads.js';

const f = (n: number, digits: number) => (Number.isFinite(n) ? n.toFixed(digits) : String(n));

function atLeast(goal: string, measured: number, target: number, unit: string, digits = 2): GoalRow {
  const met = measured >= target;
  const pct = (measured / target - 1) * 100;
  return { goal, target: `>= ${f(target, digits)}${unit ? ` ${unit}` : ''}`, measured, unit, met, margin: `${met ? 'met' : 'not met'}: ${f(measured, digits)} is ${f(Math.abs(pct), 1)}% ${pct >= 0 ? 'above' : 'below'} the target` };
}

function atMost(goal: string, measured: number, target: number, unit: string, digits = 2): GoalRow {
  const met = measured <= target;
  const over = measured - target;
  const times = target > 0 ? ` (${f(measured / target, 2)}x the target)` : '';
  const u = unit ? ` ${unit}` : '';
  return { goal, target: `<= ${f(target, digits)}${u}`, measured, unit, met, margin: `${met ? 'met' : 'not met'}: ${f(measured, digits)}${u} is ${f(Math.abs(over), digits)}${u} ${over <= 0 ? 'under' : 'over'}${times}` };
}

/** `lockstep run` of bench-write.js before group commit (issue 10: 300-320 req/s); the goal is 10x. */
export const WRITE_PER_REQUEST_BEFORE_RPS = 310;

/**
 * Log bytes per clock read: the bench-clock.js log's bytes per request less bench-trivial.js's
 * (same request, no clock reads), over bench-clock.js's clock reads per request.
 */
export function clockBytesPerRead(programs: ProgramRow[]): number | undefined {
  const clock = programs.find((p) => p.program === 'bench-clock.js' && !p.error);
  const trivial = programs.find((p) => p.program === 'bench-trivial.js' && !p.error);
  if (!clock || !trivial || !(clock.clockReadsPerRequest.median > 0)) return undefined;
  return (clock.logBytesPerRequest.median - trivial.logBytesPerRequest.median) / clock.clockReadsPerRequest.median;
}

/** Issue 22's two CPU ratios from the medians of each process's CPU per request (ms). */
function cpuRatioGoals(what: string, cpu: { node: Spread; primary: Spread; secondary: Spread }): GoalRow[] {
  const [node, primary, secondary] = [cpu.node.median, cpu.primary.median, cpu.secondary.median];
  const us = (ms: number) => `${f(ms * 1000, 0)} us`;
  return [
    atMost(`primary CPU per request, pair / lockstep run, ${what} (${us(primary)} vs ${us(node)})`, primary / node, ISSUE22.primaryCpuVsRun, '', 2),
    atMost(`secondary CPU per request / primary's, ${what} (${us(secondary)} vs ${us(primary)})`, secondary / primary, ISSUE22.secondaryCpuVsPrimary, '', 2),
  ];
}

/** Issue 22's targets (its table, in its order). */
export const ISSUE22 = { runVsBareNode: 0.6, pairVsRun: 0.9, primaryCpuVsRun: 1.3, secondaryCpuVsPrimary: 0.5, writeVsTrivial: 0.3 } as const;

export function evaluateGoals(replication: ReplicationResults | undefined, programs: ProgramRow[], ratios?: BenchResults['throughput']['ratios']): GoalRow[] {
  const goals: GoalRow[] = [];
  if (ratios) goals.push(atLeast('lockstep run / bare node:http, trivial guest', ratios.lockstepRunVsBareNode.median, ISSUE22.runVsBareNode, ''));
  const row = (name: string) => replication?.workloads.find((w) => w.workload === name);
  const ratioGoals: Array<[string, number]> = [['trivial', ISSUE22.pairVsRun], ['body', ISSUE22.pairVsRun]];
  for (const [name, target] of ratioGoals) {
    const w = row(name);
    if (w) goals.push(atLeast(`throughput replicated/unreplicated, ${name} (${w.program}), ${w.workload === 'trivial' ? 'concurrency clients' : '4 KB bodies'}`, w.throughputRatio.median, target, ''));
  }
  const trivial = row('trivial');
  if (trivial) {
    const closedLoop = { node: trivial.unreplicated.nodeCpuMsPerRequest, primary: trivial.replicated.primaryCpuMsPerRequest, secondary: trivial.replicated.secondaryCpuMsPerRequest };
    goals.push(...cpuRatioGoals('trivial', closedLoop));
    const equal = trivial.equalLoad;
    if (equal) {
      const load = { node: equal.nodeCpuMsPerRequest, primary: equal.primaryCpuMsPerRequest, secondary: equal.secondaryCpuMsPerRequest };
      goals.push(...cpuRatioGoals(`trivial, both at ${f(equal.ratePerS.median, 0)} req/s offered`, load));
    }
  }
  if (replication) {
    const rtt = replication.wsRtt.p50Ms.median;
    for (const w of replication.workloads) goals.push(atMost(`added latency p50, 1 connection, ${w.workload} (one ws RTT ${f(rtt, 3)} ms + 0.1 ms)`, w.addedP50Ms.median, rtt + 0.1, 'ms', 3));
  }
  const write = row('write');
  if (write && trivial) {
    goals.push(atLeast(`guest writing its state per request (bench-write.js) / trivial, lockstep run req/s`, write.unreplicated.requestsPerS.median / trivial.unreplicated.requestsPerS.median, ISSUE22.writeVsTrivial, '', 2));
  }
  const cpu = row('cpu');
  if (cpu) goals.push(atLeast(`throughput replicated/unreplicated, cpu (${cpu.program})`, cpu.throughputRatio.median, 0.97, ''));
  if (write) goals.push(atLeast(`write per request (bench-write.js) unreplicated, 10x the ${WRITE_PER_REQUEST_BEFORE_RPS} req/s before group commit`, write.unreplicated.requestsPerS.median, 10 * WRITE_PER_REQUEST_BEFORE_RPS, 'req/s', 0));
  const hang = replication?.hangFailover;
  if (hang) goals.push(atMost(`failover client gap p99, hung primary (${hang.trials.length} SIGSTOPs, default timeouts)`, hang.clientGapMs.p99, 500, 'ms', 0));
  const kill = replication?.failover;
  if (kill) goals.push(atMost(`failover client gap p99, killed primary (${kill.trials.length} SIGKILLs, default timeouts)`, kill.clientGapMs.p99, 500, 'ms', 0));
  const clock = clockBytesPerRead(programs);
  if (clock !== undefined) goals.push(atMost('log bytes per clock read (bench-clock.js log less bench-trivial.js log, per read)', clock, 3, 'B', 2));
  for (const w of replication?.workloads ?? []) goals.push(atMost(`log bytes per request, ${w.workload} (1.05 x input + 8 B/event)`, w.logBytesPerRequest.median, w.goalLogBytesPerRequest.median, 'B', 0));
  for (const w of REPLICATION_WORKLOADS) {
    const p = programs.find((x) => x.program === w.program && !x.error);
    if (p) goals.push(atLeast(`replay catch-up speed / live speed, ${w.name} (${w.program})`, p.replayEventsPerS.median / p.liveEventsPerS.median, 3, 'x', 2));
  }
  return goals;
}
