// The failover kill loop shared by failover.integration.test.ts and scripts/soak.ts.
//
// A fresh pair runs under continuous counter load (runLoad: Idempotency-Keys, retries to the other
// node); the primary is SIGKILLed at a seeded random moment; the secondary goes live; the survivor's
// state is checked against what the client was told. Then a fresh secondary joins the survivor on
// the dead primary's port (so the client's two targets stay the same), and the next kill hits the
// promoted node: a chain of kills per pair, each kill costing one process start instead of two.
import { rm } from 'node:fs/promises';
import { runLoad, type LoadSummary } from '../../src/client/load-client.js';
import { count, request, rngFrom, startPair, startSecondary, status, tempDir, waitReplaying, waitUntil, type StartedNode } from './helpers.js';

/**
 * A SIGKILLed primary is detected by its connection closing, not by silence, so the failure
 * timeout does not slow these kills down; it only has to exceed the event-loop stalls of a busy
 * 2-core machine (a fresh node instantiating QuickJS), or a live pair fails over by itself.
 */
export const DEFAULT_KILL_LOOP_FAILURE_TIMEOUT_MS = 1000;

export interface KillResult {
  /** Kill number within the whole loop. */
  kill: number;
  pair: number;
  killAtMs: number;
  sent: number;
  answered: number;
  ok200: number;
  lost: number;
  duplicates: number;
  finalCount: number;
  epoch: number;
  /** Problems found at this kill (empty = all checks passed). */
  problems: string[];
  /** From the SIGKILL to the survivor's 'live' mark. */
  failoverMs: number;
}

export interface KillLoopOptions {
  seed: number;
  kills: number;
  /** Kills per fresh pair (the rest hit promoted secondaries). */
  chain?: number;
  killMinMs?: number;
  killMaxMs?: number;
  /** How long load keeps issuing new keys after the kill. */
  loadAfterKillMs?: number;
  concurrency?: number;
  heartbeatMs?: number;
  failureTimeoutMs?: number;
  onResult?: (r: KillResult) => void;
}

/** What the client has been told so far by one pair's lineage (the model of the counter). */
export interface Model {
  told: Set<number>;
  ok200: number;
  sent: number;
}

/**
 * Checks one load run against the survivor's count. The counter's model: each key answered 200
 * incremented exactly once; a key never answered may or may not have counted.
 */
export function checkAnswers(summary: LoadSummary, finalCount: number, model: Model): string[] {
  const problems: string[] = [];
  if (summary.lost !== 0) problems.push(`lost ${summary.lost} keys: ${JSON.stringify(summary.lostExamples)}`);
  if (summary.duplicates !== 0) problems.push(`duplicates ${summary.duplicates}: ${JSON.stringify(summary.duplicateExamples)}`);
  model.sent += summary.sent;
  for (const [key, a] of summary.answers) {
    if (a.status !== 200) {
      problems.push(`key ${key} got ${a.status} ${a.body}`);
      continue;
    }
    const n = (JSON.parse(a.body) as { count: number }).count;
    if (model.told.has(n)) problems.push(`key ${key} was told count ${n}, which another key was told too`);
    model.told.add(n);
    model.ok200++;
  }
  if (finalCount < model.ok200) problems.push(`survivor count ${finalCount} < ${model.ok200} answered increments: acknowledged work lost`);
  if (finalCount > model.sent) problems.push(`survivor count ${finalCount} > ${model.sent} keys sent: some key counted twice`);
  if (summary.lost === 0 && finalCount !== model.ok200) problems.push(`survivor count ${finalCount} != ${model.ok200} answered keys`);
  const highest = Math.max(0, ...model.told);
  if (highest > finalCount) problems.push(`a client was told count ${highest} but the survivor has only ${finalCount}`);
  return problems;
}

function tail(node: StartedNode | undefined, chars = 2500): string {
  return node ? `\n--- ${node.proc.name} (pid ${node.proc.pid}) stderr:\n${node.proc.stderr.slice(-chars)}` : '';
}

/** One fresh pair, killed `killTimes.length` times in a chain. */
export async function killChain(pairIndex: number, firstKill: number, killTimes: number[], options: KillLoopOptions, onResult: (r: KillResult) => void): Promise<void> {
  const timing = { heartbeatMs: options.heartbeatMs ?? 50, failureTimeoutMs: options.failureTimeoutMs ?? DEFAULT_KILL_LOOP_FAILURE_TIMEOUT_MS };
  const dir = await tempDir('kill');
  const everyone: StartedNode[] = [];
  const model: Model = { told: new Set(), ok200: 0, sent: 0 };
  try {
    const pair = await startPair(dir, timing);
    let primary = pair.primary;
    let secondary: StartedNode = pair.secondary;
    everyone.push(primary, secondary);
    const targets = [primary.url, secondary.url];
    for (let i = 0; i < killTimes.length; i++) {
      const killAtMs = killTimes[i]!;
      const kill = firstKill + i;
      const base = { kill, pair: pairIndex, killAtMs };
      let killedAt = 0;
      const victim = primary;
      const killer = setTimeout(() => {
        killedAt = Date.now();
        victim.proc.signal('SIGKILL');
      }, killAtMs);
      let summary: LoadSummary;
      try {
        summary = await runLoad({
          targets,
          rate: 0,
          concurrency: options.concurrency ?? 6,
          durationMs: killAtMs + (options.loadAfterKillMs ?? 400),
          requestTimeoutMs: 2000,
          retryBackoffMs: 20,
          retryBackoffMaxMs: 150,
          giveUpAfterMs: 20_000,
          lateAnswerWindowMs: 500,
          seed: options.seed + kill,
        });
      } finally {
        clearTimeout(killer);
      }
      await victim.proc.exited;
      const problems: string[] = [];
      if (secondary.proc.exit) problems.push(`the secondary exited too (${JSON.stringify(secondary.proc.exit)})`);
      if (/primary failed \(no frame/.test(secondary.proc.stderr) && !/logging connection closed/.test(secondary.proc.stderr.split('\n').filter((l) => /primary failed/.test(l)).at(-1) ?? '')) {
        problems.push('the secondary declared the primary failed by silence although the connection was open (CPU starvation?)');
      }
      await waitUntil(async () => (await status(secondary.url))?.role === 'primary', 10_000, `${secondary.proc.name} went live`);
      const live = (await status(secondary.url))!;
      const finalCount = await count(secondary.url);
      problems.push(...checkAnswers(summary, finalCount, model));
      const epoch = live.epoch as number;
      if (epoch !== i + 1) problems.push(`survivor epoch ${epoch}, expected ${i + 1}`);
      // Every answer names the epoch it was released in (clients use it to spot two nodes serving one epoch).
      const answerEpoch = (await request(secondary.url, { path: '/count', timeoutMs: 5000 })).headers['x-lockstep-epoch'];
      if (answerEpoch !== String(epoch)) problems.push(`the survivor's answers say x-lockstep-epoch ${answerEpoch}, its status says epoch ${epoch}`);
      const timeline = live.timeline as Record<string, number> | undefined;
      const result: KillResult = {
        ...base,
        sent: summary.sent,
        answered: summary.answered,
        ok200: model.ok200,
        lost: summary.lost,
        duplicates: summary.duplicates,
        finalCount,
        epoch,
        problems: problems.length ? [...problems, tail(victim) + tail(secondary)] : [],
        failoverMs: timeline?.live && killedAt ? timeline.live - killedAt : -1,
      };
      onResult(result);
      if (problems.length > 0) return; // this lineage is no longer a clean model
      if (i === killTimes.length - 1) break;
      // A fresh secondary joins the survivor on the dead node's port; the next kill hits the survivor.
      const fresh = await startSecondary({
        ...timing,
        dir,
        port: victim.port,
        primaryUrl: `ws://127.0.0.1:${secondary.logPort}`,
        name: `secondary-${pairIndex}.${i + 1}`,
      });
      everyone.push(fresh);
      const survivor = secondary;
      await waitUntil(async () => (await status(survivor.url))?.protection === 'protected', 15_000, 'the survivor protected again by a fresh secondary');
      await waitReplaying(fresh.url);
      primary = survivor;
      secondary = fresh;
    }
  } catch (error) {
    onResult({
      kill: firstKill, pair: pairIndex, killAtMs: -1, sent: 0, answered: 0, ok200: model.ok200, lost: -1, duplicates: -1, finalCount: -1, epoch: -1, failoverMs: -1,
      problems: [`pair ${pairIndex} failed: ${error instanceof Error ? error.message : error}${everyone.slice(-2).map((n) => tail(n)).join('')}`],
    });
  } finally {
    await Promise.all(everyone.map((n) => n.proc.kill()));
    await rm(dir, { recursive: true, force: true });
  }
}

/** `kills` kills over fresh pairs of `chain` kills each, run one pair after another. */
export async function killLoop(options: KillLoopOptions): Promise<KillResult[]> {
  const rng = rngFrom(options.seed);
  const min = options.killMinMs ?? 200;
  const max = options.killMaxMs ?? 1200;
  const chain = options.chain ?? 5;
  const results: KillResult[] = [];
  for (let done = 0, pair = 0; done < options.kills; pair++) {
    const n = Math.min(chain, options.kills - done);
    const times = Array.from({ length: n }, () => Math.round(min + rng() * (max - min)));
    await killChain(pair, done, times, options, (r) => {
      results.push(r);
      options.onResult?.(r);
    });
    done += n;
  }
  return results;
}
