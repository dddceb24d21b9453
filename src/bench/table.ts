// The results as plain-text tables for stdout.
import { formatMachine } from './machine.js';
import type { BenchResults, FailoverResults } from './results.js';
import type { Spread } from './stats.js';

export function formatNumber(n: number, digits = 0): string {
  if (!Number.isFinite(n)) return String(n);
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

/** "median (min-max)". */
export function formatSpread(s: Spread | undefined, digits = 0): string {
  if (!s) return '-';
  if (s.samples.length <= 1) return formatNumber(s.median, digits);
  return `${formatNumber(s.median, digits)} (${formatNumber(s.min, digits)}-${formatNumber(s.max, digits)})`;
}

function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)];
}

export function formatTables(r: BenchResults): string[] {
  const out: string[] = [];
  out.push(`Lockstep benchmark, ${r.startedAt} (${formatNumber(r.elapsedMs / 1000, 1)} s)`);
  out.push(`machine: ${formatMachine(r.machine)}`);
  out.push(`load average at the end: ${r.loadAverageAtEnd.join(' ')} (a busy machine gives lower and noisier figures)`);
  out.push(`pinning: ${r.settings.pinning.description}`);
  out.push(`${r.settings.reps} reps x ${r.settings.durationMs} ms, concurrency ${r.settings.concurrency}; medians (min-max)`);
  out.push('');
  out.push(`Requests/s of ${r.throughput.program}:`);
  out.push(
    ...table(
      ['configuration', 'req/s', 'p50 ms', 'p99 ms'],
      r.throughput.rows.map((row) => [row.name, formatSpread(row.requestsPerS), formatSpread(row.p50Ms, 2), formatSpread(row.p99Ms, 2)]),
    ),
  );
  const ratios = r.throughput.ratios;
  out.push(`lockstep run / bare node:http: ${formatSpread(ratios.lockstepRunVsBareNode, 3)}`);
  out.push(`lockstep run / raw call loop: ${formatSpread(ratios.lockstepRunVsRawCall, 3)}`);
  out.push(`Guest.deliver loop / raw call loop: ${formatSpread(ratios.guestDeliverVsRawCall, 3)}`);
  out.push(`lockstep run / Guest.deliver loop: ${formatSpread(ratios.lockstepRunVsGuestDeliver, 3)}`);
  if (ratios.recordVsLockstepRun) out.push(`lockstep run --record / lockstep run: ${formatSpread(ratios.recordVsLockstepRun, 3)}`);
  out.push(ratios.replicatedVsLockstepRun ? `replicated / lockstep run: ${formatSpread(ratios.replicatedVsLockstepRun, 3)}` : `replicated: ${r.replicated.note}`);
  out.push('');
  out.push('Each guest program under `lockstep run --record`:');
  out.push(
    ...table(
      ['program', 'request', 'req/s', 'p99 ms', 'events/req', 'log B/event', 'log B/input B', 'live events/s', 'replay events/s', 'live/replay'],
      r.programs.map((p) => p.error ? [p.program, p.request, `skipped: ${p.error.slice(0, 80)}`, '', '', '', '', '', '', ''] : [
        p.program,
        p.request,
        formatSpread(p.requestsPerS),
        formatSpread(p.p99Ms, 2),
        formatNumber(p.eventsPerRequest.median, 2),
        formatSpread(p.logBytesPerEvent, 1),
        formatSpread(p.logBytesPerInputByte, 2),
        formatSpread(p.liveEventsPerS),
        formatSpread(p.replayEventsPerS),
        formatSpread(p.liveVsReplay, 3),
      ]),
    ),
  );
  const mismatched = r.programs.filter((p) => p.non2xxAnswers > 0).map((p) => p.program);
  if (mismatched.length) out.push(`non-2xx answers (the load does not fit the program; still logged events): ${mismatched.join(', ')}`);
  out.push(...formatReplication(r));
  return out;
}

export function formatReplication(r: BenchResults): string[] {
  const out: string[] = [];
  const rep = r.replication;
  if (rep) {
    out.push('');
    out.push(`Bare ws round trip (${rep.wsRtt.messageBytes}-byte msgpackr messages, one at a time): p50 ${formatSpread(rep.wsRtt.p50Ms, 3)} ms, p99 ${formatSpread(rep.wsRtt.p99Ms, 3)} ms`);
    out.push('');
    out.push(`Replicated (primary + secondary) vs unreplicated (lockstep run), per workload; throughput with ${r.settings.concurrency} clients, latency with 1 client:`);
    out.push(
      ...table(
        ['workload', 'unrepl req/s', 'repl req/s', 'ratio', 'unrepl p50/p99 ms', 'repl p50/p99 ms', 'added p50 ms', 'added p99 ms'],
        rep.workloads.map((w) => [
          w.workload,
          formatSpread(w.unreplicated.requestsPerS),
          formatSpread(w.replicated.requestsPerS),
          formatSpread(w.throughputRatio, 3),
          `${formatNumber(w.unreplicated.latencyP50Ms.median, 3)} / ${formatNumber(w.unreplicated.latencyP99Ms.median, 2)}`,
          `${formatNumber(w.replicated.latencyP50Ms.median, 3)} / ${formatNumber(w.replicated.latencyP99Ms.median, 2)}`,
          formatSpread(w.addedP50Ms, 3),
          formatSpread(w.addedP99Ms, 2),
        ]),
      ),
    );
    out.push('');
    out.push('Log bandwidth (bytes the primary sent on the logging channel) against the input, and the secondary lag:');
    out.push(
      ...table(
        ['workload', 'input B/req', 'log B/req', 'log/input', 'goal B/req', 'log KB/s', 'input x1.2 KB/s', 'events/req', 'lag p50/max entries', 'lag p50/max ms'],
        rep.workloads.map((w) => [
          w.workload,
          formatNumber(w.inputBytesPerRequest.median),
          formatSpread(w.logBytesPerRequest),
          formatSpread(w.logBytesPerInputByte, 2),
          formatNumber(w.goalLogBytesPerRequest.median),
          formatNumber(w.logBytesPerS.median / 1000, 1),
          formatNumber(w.ruleOfThumbBytesPerS.median / 1000, 1),
          formatNumber(w.eventsPerRequest.median, 2),
          `${formatNumber(w.lagEntriesP50.median, 0)} / ${formatNumber(w.lagEntriesMax.median, 0)}`,
          `${formatNumber(w.lagMsP50.median, 1)} / ${formatNumber(w.lagMsMax.median, 1)}`,
        ]),
      ),
    );
    out.push('');
    out.push('CPU per request (utime+stime from /proc/<pid>/stat, read as the measured window opens and closes: warm-up left out), and the frames on the logging channel per request:');
    out.push(
      ...table(
        ['workload', 'unrepl node us', 'primary us', 'secondary us', 'primary/node', 'secondary/primary', 'frames sent/req', 'frames received/req'],
        rep.workloads.map((w) => [
          w.workload,
          formatSpread(mul(w.unreplicated.nodeCpuMsPerRequest, 1000)),
          formatSpread(mul(w.replicated.primaryCpuMsPerRequest, 1000)),
          formatSpread(mul(w.replicated.secondaryCpuMsPerRequest, 1000)),
          formatNumber(w.replicated.primaryCpuMsPerRequest.median / w.unreplicated.nodeCpuMsPerRequest.median, 2),
          formatNumber(w.replicated.secondaryCpuMsPerRequest.median / w.replicated.primaryCpuMsPerRequest.median, 2),
          formatNumber(w.framesSentPerRequest.median, 2),
          formatNumber(w.framesReceivedPerRequest.median, 2),
        ]),
      ),
    );
    for (const w of rep.workloads) {
      const e = w.equalLoad;
      if (!e) continue;
      const node = e.nodeCpuMsPerRequest.median;
      const primary = e.primaryCpuMsPerRequest.median;
      out.push(
        `At an equal offered load (${formatNumber(e.ratePerS.median)} req/s, ${formatNumber(e.fractionOfPair * 100)}% of the pair's closed loop), ${w.workload}: node ${formatSpread(mul(e.nodeCpuMsPerRequest, 1000))} us, ` +
          `primary ${formatSpread(mul(e.primaryCpuMsPerRequest, 1000))} us, secondary ${formatSpread(mul(e.secondaryCpuMsPerRequest, 1000))} us; primary/node ${formatNumber(primary / node, 2)}, secondary/primary ${formatNumber(e.secondaryCpuMsPerRequest.median / primary, 2)}`,
      );
    }
    const blocks: Array<[FailoverResults | undefined, string]> = [
      [rep.failover, 'SIGKILLs of the primary under load'],
      [rep.hangFailover, 'SIGSTOPs of the primary under load (hung, still connected: detection by the failure timeout)'],
    ];
    for (const [f, what] of blocks) {
      if (!f) continue;
      out.push('');
      out.push(`Failover: ${f.trials.length} ${what} (${f.program}; ${f.settings}); ms after the fault:`);
      out.push(
        ...table(
          ['', 'p50', 'p99', 'max'],
          [
            ['failure detected', formatNumber(f.detectionMs.p50), formatNumber(f.detectionMs.p99), formatNumber(f.detectionMs.max)],
            ['secondary live', formatNumber(f.goLiveMs.p50), formatNumber(f.goLiveMs.p99), formatNumber(f.goLiveMs.max)],
            ['client-visible gap', formatNumber(f.clientGapMs.p50), formatNumber(f.clientGapMs.p99), formatNumber(f.clientGapMs.max)],
          ],
        ),
      );
      out.push(`lost: ${f.lostTotal} over all trials (per trial: ${f.trials.map((t) => t.lost).join(', ')}); duplicate answers: ${f.duplicatesTotal}`);
    }
  }
  if (r.goals.length) {
    out.push('');
    out.push('Goals:');
    out.push(...table(['goal', 'target', 'measured', 'met?'], r.goals.map((g) => [g.goal, g.target, `${formatNumber(g.measured, 3)}${g.unit ? ` ${g.unit}` : ''}`, g.margin])));
  }
  return out;
}

function mul(s: Spread, k: number): Spread {
  return { median: s.median * k, min: s.min * k, max: s.max * k, samples: s.samples.map((x) => x * k) };
}
