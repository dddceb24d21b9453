// The results as plain-text tables for stdout.
import { formatMachine } from './machine.js';
import type { BenchResults } from './results.js';
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
  return out;
}
