// Shows a load run as it goes (one status line) and when it ends (a summary a newcomer can read).
// On a terminal the line is redrawn in place ~4 times a second; in a log file it is a plain line per second.

import type { LatencyStats, LoadProgress, LoadSummary } from './load-client.js';

/** Non-TTY output gets one line per this long, so CI logs stay readable. */
export const plainLineIntervalMs = 1000;

export interface ProgressStream {
  write(s: string): unknown;
  isTTY?: boolean;
}

export function formatProgressLine(p: LoadProgress): string {
  return [
    `${(p.elapsedMs / 1000).toFixed(1)}s ${p.phase}`,
    `${p.answersPerS.toFixed(0)} answers/s`,
    `answered ${p.answered}/${p.sent}`,
    `retries ${p.retried}`,
    `lost ${p.lost}`,
    `target ${p.currentTarget}`,
    `last answer ${Math.round(p.msSinceLastAnswer)} ms ago`,
  ].join(' | ');
}

/** Returns a hook for runLoad's `onProgress` and a `finish` to call once the run ends. */
export function createProgressPrinter(stream: ProgressStream): { onProgress(p: LoadProgress): void; finish(): void } {
  let lastPlainAt = -Infinity;
  let drewLine = false;
  return {
    onProgress(p) {
      if (stream.isTTY) {
        stream.write(`\r${formatProgressLine(p)}\x1b[K`);
        drewLine = true;
      } else if (p.elapsedMs - lastPlainAt >= plainLineIntervalMs * 0.9) { // 0.9: timer drift must not skip a line
        lastPlainAt = p.elapsedMs;
        stream.write(`${formatProgressLine(p)}\n`);
      }
    },
    finish() {
      if (drewLine) stream.write('\n');
    },
  };
}

const ms = (v: number) => `${Math.round(v)} ms`;
const latency = (l: LatencyStats) => `p50 ${ms(l.p50Ms)}, p99 ${ms(l.p99Ms)}, max ${ms(l.maxMs)}`;
const clip = (s: string, n = 80) => (s.length > n ? `${s.slice(0, n)}…` : s);

export function formatSummary(s: LoadSummary): string {
  const lines = [
    `load run ${s.runId} (SEED=${s.seed}) against ${s.targets.join(', ')}: ${(s.elapsedMs / 1000).toFixed(1)} s`,
    `  keys sent        ${s.sent} (each with its own Idempotency-Key)`,
    `  answered         ${s.answered}`,
    `  lost             ${s.lost} (must be 0: keys never answered)`,
    `  duplicates       ${s.duplicates} (must be 0: keys that got two different answers)`,
    `  attempts         ${s.attempts} (retried keys: ${s.retried})`,
    `  statuses         ${Object.entries(s.statusCounts).map(([k, v]) => `${k}: ${v}`).join(', ') || 'none'}`,
    `  answers by node  ${Object.entries(s.answersByTarget).map(([k, v]) => `${k}: ${v}`).join(', ')}`,
    `  throughput       ${s.answersPerS.toFixed(1)} answers/s`,
    `  longest silence  ${ms(s.longestGapMs)} with no answer at all (from ${ms(s.longestGapStartMs)} into the run)`,
    `  latency          ${latency(s.attemptLatency)} (answering attempt)`,
    `                   ${latency(s.keyLatency)} (per key, retries included)`,
  ];
  for (const d of s.duplicateExamples) {
    lines.push(`  duplicate ${d.key}: first ${d.first.status} '${clip(d.first.body)}' from ${d.first.target}, later ${d.later.status} '${clip(d.later.body)}' from ${d.later.target}`);
  }
  for (const l of s.lostExamples) lines.push(`  lost ${l.key} after ${l.attempts} attempts: ${l.lastError}`);
  lines.push(s.lost === 0 && s.duplicates === 0 ? 'OK: every key answered exactly once.' : 'FAILED: some keys were lost or answered twice differently.');
  return lines.join('\n');
}
