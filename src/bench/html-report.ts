// A self-contained HTML report (inline CSS and SVG, no external assets): opens offline.
import { formatMachine } from './machine.js';
import type { BenchResults } from './results.js';
import type { Spread } from './stats.js';
import { formatNumber, formatSpread } from './table.js';

export interface Bar {
  label: string;
  spread: Spread;
  color?: string;
}

const COLORS = ['#3b6ea5', '#d9822b', '#4a9a5b', '#a04a8a', '#7a7a7a'];

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** Horizontal bars (median) with a min-max whisker and the value written at the end; linear scale from 0. */
export function barChartSvg(title: string, bars: Bar[], unit: string, digits = 0): string {
  const labelW = 190;
  const chartW = 430;
  const valueW = 170;
  const rowH = 26;
  const top = 30;
  const width = labelW + chartW + valueW;
  const height = top + bars.length * rowH + 10;
  const max = Math.max(...bars.map((b) => (Number.isFinite(b.spread.max) ? b.spread.max : 0)), 1e-9);
  const x = (v: number) => labelW + (Math.max(0, v) / max) * chartW;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeHtml(title)}">`,
    `<text x="0" y="18" font-size="14" font-weight="bold">${escapeHtml(title)}</text>`,
    `<line x1="${labelW}" y1="${top - 4}" x2="${labelW}" y2="${height - 6}" stroke="#999"/>`,
  ];
  bars.forEach((bar, i) => {
    const y = top + i * rowH;
    const color = bar.color ?? COLORS[i % COLORS.length]!;
    const { median, min, max: hi } = bar.spread;
    parts.push(`<text x="${labelW - 6}" y="${y + 15}" font-size="12" text-anchor="end">${escapeHtml(bar.label)}</text>`);
    parts.push(`<rect x="${labelW}" y="${y + 3}" width="${(x(median) - labelW).toFixed(1)}" height="${rowH - 8}" fill="${color}"><title>${escapeHtml(`${bar.label}: ${formatSpread(bar.spread, digits)} ${unit}`)}</title></rect>`);
    if (bar.spread.samples.length > 1) {
      const cy = y + rowH / 2 - 1;
      parts.push(`<line x1="${x(min).toFixed(1)}" y1="${cy}" x2="${x(hi).toFixed(1)}" y2="${cy}" stroke="#222" stroke-width="1.5"/>`);
      parts.push(`<line x1="${x(min).toFixed(1)}" y1="${cy - 5}" x2="${x(min).toFixed(1)}" y2="${cy + 5}" stroke="#222"/>`);
      parts.push(`<line x1="${x(hi).toFixed(1)}" y1="${cy - 5}" x2="${x(hi).toFixed(1)}" y2="${cy + 5}" stroke="#222"/>`);
    }
    parts.push(`<text x="${(Math.max(x(median), x(hi)) + 6).toFixed(1)}" y="${y + 15}" font-size="12">${escapeHtml(`${formatNumber(median, digits)} ${unit}`)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

function htmlTable(header: string[], rows: string[][]): string {
  const th = header.map((h) => `<th>${escapeHtml(h)}</th>`).join('');
  const trs = rows.map((r) => `<tr>${r.map((c, i) => (i === 0 ? `<td>${escapeHtml(c)}</td>` : `<td class="n">${escapeHtml(c)}</td>`)).join('')}</tr>`).join('\n');
  return `<table><thead><tr>${th}</tr></thead><tbody>\n${trs}\n</tbody></table>`;
}

export function renderHtmlReport(results: BenchResults): string {
  const r = { ...results, programs: results.programs.filter((p) => !p.error) };
  const skipped = results.programs.filter((p) => p.error);
  const t = r.throughput;
  const throughputChart = barChartSvg(`Requests/s, ${t.program} (median, min-max)`, t.rows.map((row) => ({ label: row.name, spread: row.requestsPerS })), 'req/s');
  const httpRows = t.rows.filter((row) => row.p50Ms);
  const httpChart = barChartSvg('Requests/s over HTTP only (same scale for the configurations that matter for failover)', httpRows.map((row) => ({ label: row.name, spread: row.requestsPerS })), 'req/s');
  const p99Chart = barChartSvg('p99 latency over HTTP', httpRows.map((row) => ({ label: row.name, spread: row.p99Ms!, color: COLORS[4] })), 'ms', 2);
  const bytesChart = barChartSvg('Log bytes per event, under lockstep run --record', r.programs.map((p) => ({ label: p.program, spread: p.logBytesPerEvent, color: COLORS[0] })), 'B/event', 1);
  const inputChart = barChartSvg('Log bytes per input byte', r.programs.map((p) => ({ label: p.program, spread: p.logBytesPerInputByte, color: COLORS[3] })), 'B/B', 2);
  const speedBars = r.programs.flatMap((p) => [
    { label: `${p.program} live`, spread: p.liveEventsPerS, color: COLORS[1] },
    { label: `${p.program} replay`, spread: p.replayEventsPerS, color: COLORS[2] },
  ]);
  const speedChart = barChartSvg('Events/s: live (serving HTTP) vs replaying the log offline', speedBars, 'events/s');
  const ratios = t.ratios;
  const ratioLines = [
    ['lockstep run / bare node:http', formatSpread(ratios.lockstepRunVsBareNode, 3)],
    ['lockstep run / raw call loop', formatSpread(ratios.lockstepRunVsRawCall, 3)],
    ['Guest.deliver loop / raw call loop', formatSpread(ratios.guestDeliverVsRawCall, 3)],
    ['lockstep run / Guest.deliver loop', formatSpread(ratios.lockstepRunVsGuestDeliver, 3)],
    ['lockstep run --record / lockstep run', ratios.recordVsLockstepRun ? formatSpread(ratios.recordVsLockstepRun, 3) : '-'],
    ['replicated / lockstep run', ratios.replicatedVsLockstepRun ? formatSpread(ratios.replicatedVsLockstepRun, 3) : r.replicated.note],
  ];
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Lockstep benchmark ${escapeHtml(r.startedAt)}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 1100px; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 8px; }
th { background: #f0f0f0; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
svg { display: block; margin: 1em 0; }
.meta { color: #555; font-size: 13px; }
</style>
</head>
<body>
<h1>Lockstep benchmark</h1>
<p class="meta">${escapeHtml(r.startedAt)} (${formatNumber(r.elapsedMs / 1000, 1)} s)<br>
Machine: ${escapeHtml(formatMachine(r.machine))}; load average at the end ${r.loadAverageAtEnd.join(' ')}<br>
Pinning: ${escapeHtml(r.settings.pinning.description)}<br>
${r.settings.reps} repetitions x ${r.settings.durationMs} ms (warm-up ${r.settings.warmupMs} ms), concurrency ${r.settings.concurrency}, configurations interleaved; medians with min-max spread.<br>
Replicated configuration: ${escapeHtml(r.replicated.note)}</p>

<h2>Throughput of the trivial guest</h2>
${throughputChart}
${httpChart}
${p99Chart}
${htmlTable(['configuration', 'req/s', 'p50 ms', 'p99 ms', 'what'], t.rows.map((row) => [row.name, formatSpread(row.requestsPerS), formatSpread(row.p50Ms, 2), formatSpread(row.p99Ms, 2), row.description]))}
${htmlTable(['ratio', 'value'], ratioLines)}

<h2>Log size per guest program</h2>
${bytesChart}
${inputChart}

<h2>Replay speed vs live speed</h2>
${speedChart}

<h2>All figures per guest program (lockstep run --record)</h2>
${htmlTable(
  ['program', 'request', 'req/s', 'p50 ms', 'p99 ms', 'events/req', 'log B/event', 'log B/input B', 'live events/s', 'replay events/s', 'live/replay'],
  r.programs.map((p) => [
    p.program,
    p.request,
    formatSpread(p.requestsPerS),
    formatSpread(p.p50Ms, 2),
    formatSpread(p.p99Ms, 2),
    formatNumber(p.eventsPerRequest.median, 2),
    formatSpread(p.logBytesPerEvent, 1),
    formatSpread(p.logBytesPerInputByte, 2),
    formatSpread(p.liveEventsPerS),
    formatSpread(p.replayEventsPerS),
    formatSpread(p.liveVsReplay, 3),
  ]),
)}
${replicationHtml(results)}
${skipped.length ? `<p class="meta">Skipped: ${skipped.map((p) => escapeHtml(`${p.program} (${p.error})`)).join('; ')}</p>` : ''}
<p class="meta">Log B/input B: log file size divided by the bytes of input the log carries (request method, path, headers and body; file data read; 8 per clock read; random bytes).
Live events/s: requests/s x log events per request. Replay events/s: <code>replayLog</code> on the recorded log (second run in a fresh process, wasm compile not counted).</p>
</body>
</html>
`;
}

/** Vertical histogram of values into fixed-width bins (count per bin), with a marked threshold. */
export function histogramSvg(title: string, values: number[], unit: string, threshold?: number): string {
  const finite = values.filter(Number.isFinite);
  const hi = Math.max(...finite, threshold ?? 0, 1);
  const bins = 20;
  const width = Math.ceil(hi / bins / 10) * 10 || 1;
  const counts = new Array<number>(bins).fill(0);
  for (const v of finite) counts[Math.min(bins - 1, Math.floor(v / width))]!++;
  const W = 640;
  const H = 200;
  const left = 40;
  const top = 30;
  const plotH = H - top - 30;
  const barW = (W - left - 10) / bins;
  const maxCount = Math.max(...counts, 1);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${escapeHtml(title)}">`,
    `<text x="0" y="18" font-size="14" font-weight="bold">${escapeHtml(title)}</text>`,
    `<line x1="${left}" y1="${top + plotH}" x2="${W - 10}" y2="${top + plotH}" stroke="#999"/>`,
    `<text x="${left - 4}" y="${top + 10}" font-size="11" text-anchor="end">${maxCount}</text>`,
  ];
  counts.forEach((c, i) => {
    const h = (c / maxCount) * plotH;
    const x = left + i * barW;
    parts.push(`<rect x="${x.toFixed(1)}" y="${(top + plotH - h).toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${h.toFixed(1)}" fill="${COLORS[0]}"><title>${i * width}-${(i + 1) * width} ${escapeHtml(unit)}: ${c}</title></rect>`);
    if (i % 4 === 0) parts.push(`<text x="${x.toFixed(1)}" y="${top + plotH + 14}" font-size="11">${i * width}</text>`);
  });
  parts.push(`<text x="${W - 10}" y="${top + plotH + 26}" font-size="11" text-anchor="end">${escapeHtml(unit)}</text>`);
  if (threshold !== undefined) {
    const x = left + (threshold / width) * barW;
    parts.push(`<line x1="${x.toFixed(1)}" y1="${top}" x2="${x.toFixed(1)}" y2="${top + plotH}" stroke="#c33" stroke-dasharray="4 3"/>`);
    parts.push(`<text x="${(x + 4).toFixed(1)}" y="${top + 10}" font-size="11" fill="#c33">goal ${threshold} ${escapeHtml(unit)}</text>`);
  }
  parts.push('</svg>');
  return parts.join('\n');
}

const one = (v: number): Spread => ({ median: v, min: v, max: v, samples: [v] });

function replicationHtml(r: BenchResults): string {
  const rep = r.replication;
  const goals = r.goals.length
    ? `<h2>Goals</h2>\n${htmlTable(['goal', 'target', 'measured', 'met?'], r.goals.map((g) => [g.goal, g.target, `${formatNumber(g.measured, 3)}${g.unit ? ` ${g.unit}` : ''}`, g.margin]))}`
    : '';
  if (!rep) return `<h2>Replicated vs unreplicated</h2><p class="meta">${escapeHtml(r.replicated.note)}</p>\n${goals}`;
  const ratioChart = barChartSvg('Throughput replicated / unreplicated per workload (goal: >= 0.97 cpu, >= 0.90 body)', rep.workloads.map((w) => ({ label: w.workload, spread: w.throughputRatio, color: COLORS[2] })), '', 3);
  const latencyBars = rep.workloads.flatMap((w) => [
    { label: `${w.workload} unrepl p50`, spread: w.unreplicated.latencyP50Ms, color: COLORS[0] },
    { label: `${w.workload} repl p50`, spread: w.replicated.latencyP50Ms, color: COLORS[1] },
    { label: `${w.workload} unrepl p99`, spread: w.unreplicated.latencyP99Ms, color: COLORS[4] },
    { label: `${w.workload} repl p99`, spread: w.replicated.latencyP99Ms, color: COLORS[3] },
  ]);
  const rttBars = [
    { label: 'bare ws RTT p50', spread: rep.wsRtt.p50Ms, color: COLORS[2] },
    { label: 'bare ws RTT p99', spread: rep.wsRtt.p99Ms, color: COLORS[2] },
  ];
  const latencyChart = barChartSvg('Latency with one client, ms (p50 and p99; min-max over repetitions), and the bare ws round trip', [...rttBars, ...latencyBars], 'ms', 3);
  const addedChart = barChartSvg(`Added latency p50 (replicated - unreplicated), goal <= ws RTT + 0.1 = ${formatNumber(rep.wsRtt.p50Ms.median + 0.1, 3)} ms`, rep.workloads.map((w) => ({ label: w.workload, spread: w.addedP50Ms, color: COLORS[1] })), 'ms', 3);
  const bandwidthBars = rep.workloads.flatMap((w) => [
    { label: `${w.workload} log`, spread: { ...w.logBytesPerS, median: w.logBytesPerS.median / 1000, min: w.logBytesPerS.min / 1000, max: w.logBytesPerS.max / 1000, samples: w.logBytesPerS.samples.map((x) => x / 1000) }, color: COLORS[0] },
    { label: `${w.workload} input x1.2`, spread: { ...w.ruleOfThumbBytesPerS, median: w.ruleOfThumbBytesPerS.median / 1000, min: w.ruleOfThumbBytesPerS.min / 1000, max: w.ruleOfThumbBytesPerS.max / 1000, samples: w.ruleOfThumbBytesPerS.samples.map((x) => x / 1000) }, color: COLORS[4] },
  ]);
  const bandwidthChart = barChartSvg("Log bandwidth vs VMware's rule of thumb (input x 1.2), KB/s at the replicated rate", bandwidthBars, 'KB/s', 1);
  const perInputChart = barChartSvg('Log bytes per input byte (rule of thumb 1.2)', [...rep.workloads.map((w) => ({ label: w.workload, spread: w.logBytesPerInputByte, color: COLORS[3] })), { label: 'rule of thumb', spread: one(1.2), color: COLORS[4] }], 'B/B', 2);
  const failoverSection = (f: typeof rep.failover, title: string, fault: string) =>
    f
      ? `<h2>${title}</h2>
${histogramSvg(`Client-visible gap over ${f.trials.length} ${fault} of the primary under load`, f.trials.map((t) => t.clientGapMs), 'ms', 500)}
${htmlTable([`ms after the fault`, 'p50', 'p99', 'max'], [
  ['failure detected', formatNumber(f.detectionMs.p50), formatNumber(f.detectionMs.p99), formatNumber(f.detectionMs.max)],
  ['secondary live', formatNumber(f.goLiveMs.p50), formatNumber(f.goLiveMs.p99), formatNumber(f.goLiveMs.max)],
  ['client-visible gap', formatNumber(f.clientGapMs.p50), formatNumber(f.clientGapMs.p99), formatNumber(f.clientGapMs.max)],
])}
<p class="meta">${escapeHtml(f.program)}; ${escapeHtml(f.settings)}. Lost answers over all trials: ${f.lostTotal}; duplicate answers: ${f.duplicatesTotal}.</p>
${htmlTable(['trial', 'detected ms', 'claim won ms', 'live ms', 'gap ms', 'answered', 'lost'], f.trials.map((t, i) => [String(i + 1), formatNumber(t.detectionMs), formatNumber(t.claimWonMs), formatNumber(t.goLiveMs), formatNumber(t.clientGapMs), String(t.answered), String(t.lost)]))}`
      : '';
  const failoverHtml =
    failoverSection(rep.failover, 'Failover (process killed)', 'SIGKILLs') +
    failoverSection(rep.hangFailover, 'Failover by timeout (process hung, connection open)', 'SIGSTOPs');
  return `<h2>Replicated vs unreplicated</h2>
<p class="meta">Each workload served by <code>lockstep run</code> and by a primary + secondary pair in the same run, interleaved. Primary (or the single node) on core 0, secondary and the load generator on core 1 in both configurations. Throughput: ${r.settings.concurrency} closed-loop clients; latency: 1 client. Bare ws round trip (${rep.wsRtt.messageBytes}-byte msgpackr messages): p50 ${formatSpread(rep.wsRtt.p50Ms, 3)} ms, p99 ${formatSpread(rep.wsRtt.p99Ms, 3)} ms.</p>
${ratioChart}
${latencyChart}
${addedChart}
${bandwidthChart}
${perInputChart}
${htmlTable(
  ['workload', 'unrepl req/s', 'repl req/s', 'ratio', 'added p50 ms', 'added p99 ms', 'input B/req', 'log B/req', 'log/input', 'goal B/req', 'lag p50/max entries', 'lag p50/max ms', 'CPU us/req node', 'primary', 'secondary'],
  rep.workloads.map((w) => [
    w.workload,
    formatSpread(w.unreplicated.requestsPerS),
    formatSpread(w.replicated.requestsPerS),
    formatSpread(w.throughputRatio, 3),
    formatSpread(w.addedP50Ms, 3),
    formatSpread(w.addedP99Ms, 2),
    formatNumber(w.inputBytesPerRequest.median),
    formatSpread(w.logBytesPerRequest),
    formatSpread(w.logBytesPerInputByte, 2),
    formatNumber(w.goalLogBytesPerRequest.median),
    `${formatNumber(w.lagEntriesP50.median)} / ${formatNumber(w.lagEntriesMax.median)}`,
    `${formatNumber(w.lagMsP50.median, 1)} / ${formatNumber(w.lagMsMax.median, 1)}`,
    formatNumber(w.unreplicated.nodeCpuMsPerRequest.median * 1000),
    formatNumber(w.replicated.primaryCpuMsPerRequest.median * 1000),
    formatNumber(w.replicated.secondaryCpuMsPerRequest.median * 1000),
  ]),
)}
${failoverHtml}
${goals}`;
}
