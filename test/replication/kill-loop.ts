// The failover kill loop shared by failover.integration.test.ts and scripts/soak.ts: a fresh pair
// under continuous counter load (Idempotency-Keys, retries to the other node), the primary
// SIGKILLed at a seeded random moment, then the survivor's state checked against what the
// client was told.
import { rm } from 'node:fs/promises';
import { runLoad, type LoadSummary } from '../../src/client/load-client.js';
import { count, rngFrom, startPair, status, tempDir, waitUntil } from './helpers.js';

export interface KillResult {
  iteration: number;
  killAtMs: number;
  sent: number;
  answered: number;
  ok200: number;
  lost: number;
  duplicates: number;
  finalCount: number;
  /** Problems found in this iteration (empty = all checks passed). */
  problems: string[];
  failoverMs: number;
}

export interface KillLoopOptions {
  seed: number;
  kills: number;
  killMinMs?: number;
  killMaxMs?: number;
  /** How long load keeps issuing new keys after the kill. */
  loadAfterKillMs?: number;
  concurrency?: number;
  heartbeatMs?: number;
  failureTimeoutMs?: number;
  onResult?: (r: KillResult) => void;
}

/** Checks the survivor's count against the answers: the model of the counter is "one per answered key". */
export function checkAnswers(summary: LoadSummary, finalCount: number): { problems: string[]; ok200: number } {
  const problems: string[] = [];
  if (summary.lost !== 0) problems.push(`lost ${summary.lost} keys: ${JSON.stringify(summary.lostExamples)}`);
  if (summary.duplicates !== 0) problems.push(`duplicates ${summary.duplicates}: ${JSON.stringify(summary.duplicateExamples)}`);
  const counts: number[] = [];
  for (const [key, a] of summary.answers) {
    if (a.status !== 200) {
      problems.push(`key ${key} got ${a.status} ${a.body}`);
      continue;
    }
    counts.push((JSON.parse(a.body) as { count: number }).count);
  }
  const ok200 = counts.length;
  const distinct = new Set(counts);
  if (distinct.size !== counts.length) problems.push(`two keys were told the same count (${counts.length} answers, ${distinct.size} distinct)`);
  // Each answered key incremented exactly once; unanswered keys (none if lost == 0) may or may not count.
  if (finalCount < ok200) problems.push(`survivor count ${finalCount} < ${ok200} answered increments: acknowledged work lost`);
  if (finalCount > summary.sent) problems.push(`survivor count ${finalCount} > ${summary.sent} keys sent: some key counted twice`);
  if (summary.lost === 0 && finalCount !== ok200) problems.push(`survivor count ${finalCount} != ${ok200} answered keys`);
  const highest = counts.length ? Math.max(...counts) : 0;
  if (highest > finalCount) problems.push(`a client was told count ${highest} but the survivor has ${finalCount}`);
  // With every key answered, the answers are exactly 1..n.
  if (summary.lost === 0 && distinct.size === counts.length && counts.some((c) => c < 1 || c > finalCount)) problems.push('answers outside 1..count');
  return { problems, ok200 };
}

export async function killOnce(iteration: number, killAtMs: number, options: Omit<KillLoopOptions, 'kills' | 'seed' | 'onResult'> & { seed: number }): Promise<KillResult> {
  const dir = await tempDir('kill');
  const pair = await startPair(dir, { heartbeatMs: options.heartbeatMs ?? 50, failureTimeoutMs: options.failureTimeoutMs ?? 300 });
  const t0 = Date.now();
  try {
    let killedAt = 0;
    const killer = setTimeout(() => {
      killedAt = Date.now();
      pair.primary.proc.signal('SIGKILL');
    }, killAtMs);
    const summary = await runLoad({
      targets: [pair.primary.url, pair.secondary.url],
      rate: 0,
      concurrency: options.concurrency ?? 6,
      durationMs: killAtMs + (options.loadAfterKillMs ?? 400),
      requestTimeoutMs: 1500,
      retryBackoffMs: 20,
      retryBackoffMaxMs: 150,
      giveUpAfterMs: 15_000,
      lateAnswerWindowMs: 300,
      seed: options.seed + iteration,
    });
    clearTimeout(killer);
    await pair.primary.proc.exited;
    await waitUntil(async () => (await status(pair.secondary.url))?.role === 'primary', 10_000, 'the secondary went live');
    const live = await status(pair.secondary.url);
    const finalCount = await count(pair.secondary.url);
    const { problems, ok200 } = checkAnswers(summary, finalCount);
    if (live?.epoch !== 1) problems.push(`survivor epoch ${live?.epoch}, expected 1`);
    const timeline = live?.timeline as Record<string, number> | undefined;
    return {
      iteration,
      killAtMs,
      sent: summary.sent,
      answered: summary.answered,
      ok200,
      lost: summary.lost,
      duplicates: summary.duplicates,
      finalCount,
      problems,
      failoverMs: timeline?.live && killedAt ? timeline.live - killedAt : -1,
    };
  } catch (error) {
    return { iteration, killAtMs, sent: 0, answered: 0, ok200: 0, lost: -1, duplicates: -1, finalCount: -1, problems: [`iteration failed after ${Date.now() - t0} ms: ${error instanceof Error ? error.message : error}\n--- primary stderr:\n${pair.primary.proc.stderr.slice(-3000)}\n--- secondary stderr:\n${pair.secondary.proc.stderr.slice(-3000)}`], failoverMs: -1 };
  } finally {
    await pair.kill();
    await rm(dir, { recursive: true, force: true });
  }
}

export async function killLoop(options: KillLoopOptions): Promise<KillResult[]> {
  const rng = rngFrom(options.seed);
  const min = options.killMinMs ?? 200;
  const max = options.killMaxMs ?? 1200;
  const results: KillResult[] = [];
  for (let i = 0; i < options.kills; i++) {
    const killAtMs = Math.round(min + rng() * (max - min));
    const r = await killOnce(i, killAtMs, options);
    results.push(r);
    options.onResult?.(r);
  }
  return results;
}
