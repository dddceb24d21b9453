// The project's performance goals, checked against a run's figures: met or not, and by how much.
import type { GoalRow, ProgramRow, ReplicationResults } from './results.js';
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
  return { goal, target: `<= ${f(target, digits)}${unit ? ` ${unit}` : ''}`, measured, unit, met, margin: `${met ? 'met' : 'not met'}: ${f(measured, digits)} ${unit} is ${f(Math.abs(over), digits)} ${unit} ${over <= 0 ? 'under' : 'over'}${times}` };
}

export function evaluateGoals(replication: ReplicationResults | undefined, programs: ProgramRow[]): GoalRow[] {
  const goals: GoalRow[] = [];
  if (replication) {
    const row = (name: string) => replication.workloads.find((w) => w.workload === name);
    const cpu = row('cpu');
    if (cpu) goals.push(atLeast('throughput replicated/unreplicated, cpu-bound (cpu)', cpu.throughputRatio.median, 0.97, ''));
    const body = row('body');
    if (body) goals.push(atLeast('throughput replicated/unreplicated, body-heavy (body)', body.throughputRatio.median, 0.9, ''));
    const rtt = replication.wsRtt.p50Ms.median;
    for (const w of replication.workloads) goals.push(atMost(`added latency p50, ${w.workload} (one ws RTT ${f(rtt, 3)} ms + 0.1 ms)`, w.addedP50Ms.median, rtt + 0.1, 'ms', 3));
    for (const w of replication.workloads) goals.push(atMost(`log bytes per request, ${w.workload} (1.05 x input + 8 B/event)`, w.logBytesPerRequest.median, w.goalLogBytesPerRequest.median, 'B', 0));
    if (replication.failover) goals.push(atMost(`failover client gap p99 (${replication.failover.trials.length} SIGKILLs, ${replication.failover.settings})`, replication.failover.clientGapMs.p99, 500, 'ms', 0));
    const hang = replication.hangFailover;
    if (hang) goals.push(atMost(`failover client gap p99 by timeout (${hang.trials.length} SIGSTOPs, ${hang.settings})`, hang.clientGapMs.p99, 500, 'ms', 0));
  }
  for (const w of REPLICATION_WORKLOADS) {
    const p = programs.find((x) => x.program === w.program && !x.error);
    if (p) goals.push(atLeast(`replay catch-up speed / live speed, ${w.name} (${w.program})`, p.replayEventsPerS.median / p.liveEventsPerS.median, 3, 'x', 2));
  }
  return goals;
}
