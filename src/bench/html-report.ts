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
${skipped.length ? `<p class="meta">Skipped: ${skipped.map((p) => escapeHtml(`${p.program} (${p.error})`)).join('; ')}</p>` : ''}
<p class="meta">Log B/input B: log file size divided by the bytes of input the log carries (request method, path, headers and body; file data read; 8 per clock read; random bytes).
Live events/s: requests/s x log events per request. Replay events/s: <code>replayLog</code> on the recorded log (second run in a fresh process, wasm compile not counted).</p>
</body>
</html>
`;
}
