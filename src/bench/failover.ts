// One failover trial, run as a bench worker process pinned to the load core: a fresh primary +
// secondary pair (shared directory, default heartbeat and failure timeout unless the task gives
// them), the failover-aware load client (`runLoad`, Idempotency-Keys, retries to the other node)
// at a light rate, a SIGKILL of the primary mid-load, and the go-live timeline of the secondary.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FAILURE_TIMEOUT_MS_DEFAULT } from '../channel/channel-server.js';
import { runLoad } from '../client/load-client.js';
import { makeWorkload } from '../client/workloads.js';
import type { Pinning } from './pinning.js';
import { freePort, startLockstep, stopChild, waitReady, type Child } from './processes.js';

export interface FailoverTask {
  kind: 'failover';
  program: string;
  pinning: Pinning;
  /** Load before the kill (the pair is protected before the load starts). */
  killAfterMs: number;
  /** Load issued after the kill. */
  afterKillMs: number;
  rate: number;
  concurrency: number;
  heartbeatMs?: number;
  failureTimeoutMs?: number;
  /**
   * 'kill': SIGKILL, the primary's sockets close at once (a process crash).
   * 'hang': SIGSTOP, the primary stays connected but silent (a hung host or a partition): only the
   * failure timeout can detect it, and clients give up on it after their own request timeout.
   */
  fault?: 'kill' | 'hang';
}

/**
 * The clients' request timeout in hang trials: a stopped primary never answers, so a client waits
 * this long before it tries the other node. As long as the pair takes to fail over (the default
 * failure timeout): a client that waits longer measures its own patience, not the failover.
 */
export const HANG_CLIENT_TIMEOUT_MS = FAILURE_TIMEOUT_MS_DEFAULT;

export interface FailoverTrial {
  /** Times in ms after the SIGKILL (epoch ms on one host, so one clock). */
  detectionMs: number;
  claimWonMs: number;
  goLiveMs: number;
  /** Longest time between consecutive answers from the last answer before the kill onwards. */
  clientGapMs: number;
  /** runLoad's longest stretch without any answer over the whole run. */
  longestGapMs: number;
  firstAnswerAfterKillMs: number;
  answered: number;
  lost: number;
  duplicates: number;
}

/**
 * The longest silence from the last answer before the kill to the end of the run (answers already
 * on the wire when the primary died may still arrive just after the kill). NaN without answers.
 */
export function clientGapAfter(answerTimes: number[], killedAt: number): number {
  let from = answerTimes.findIndex((t) => t > killedAt) - 1;
  if (from < 0) from = 0;
  let gapMs = NaN;
  for (let i = from + 1; i < answerTimes.length; i++) gapMs = Math.max(Number.isNaN(gapMs) ? 0 : gapMs, answerTimes[i]! - answerTimes[i - 1]!);
  return gapMs;
}

async function statusOf(url: string): Promise<Record<string, any> | undefined> {
  try {
    return (await (await fetch(`${url}/_lockstep/status`, { signal: AbortSignal.timeout(2000) })).json()) as Record<string, any>;
  } catch {
    return undefined;
  }
}

export async function runFailoverTask(task: FailoverTask): Promise<FailoverTrial> {
  const dir = await mkdtemp(join(tmpdir(), 'lockstep-bench-failover-'));
  const [port, logPort, secondaryPort] = [await freePort(), await freePort(), await freePort()];
  const timing = [
    ...(task.heartbeatMs !== undefined ? ['--heartbeat-ms', String(task.heartbeatMs)] : []),
    ...(task.failureTimeoutMs !== undefined ? ['--failure-timeout-ms', String(task.failureTimeoutMs)] : []),
  ];
  const children: Child[] = [];
  try {
    const primaryUrl = `http://127.0.0.1:${port}`;
    const secondaryUrl = `http://127.0.0.1:${secondaryPort}`;
    const primary = startLockstep(task.pinning, 'node', ['primary', task.program, '--port', String(port), '--log-listen', `127.0.0.1:${logPort}`, '--dir', dir, ...timing]);
    children.push(primary);
    await waitReady(primary, primaryUrl, 'lockstep primary');
    const secondary = startLockstep(task.pinning, 'secondary', ['secondary', task.program, '--port', String(secondaryPort), '--primary', `ws://127.0.0.1:${logPort}`, '--dir', dir, '--log-listen', '127.0.0.1:0', ...timing]);
    children.push(secondary);
    await waitReady(secondary, secondaryUrl, 'lockstep secondary');
    const deadline = Date.now() + 15_000;
    while ((await statusOf(primaryUrl))?.protection !== 'protected') {
      if (Date.now() > deadline) throw new Error(`the pair was not protected within 15 s: ${secondary.stderr()}`);
      await new Promise((r) => setTimeout(r, 50));
    }

    let killedAt = 0;
    let firstAfterKill = 0;
    const answerTimes: number[] = [];
    const hang = task.fault === 'hang';
    const killer = setTimeout(() => {
      killedAt = Date.now();
      primary.process.kill(hang ? 'SIGSTOP' : 'SIGKILL');
    }, task.killAfterMs);
    const summary = await runLoad(
      {
        targets: [primaryUrl, secondaryUrl],
        rate: task.rate,
        concurrency: task.concurrency,
        durationMs: task.killAfterMs + task.afterKillMs,
        workload: makeWorkload('counter'),
        requestTimeoutMs: hang ? HANG_CLIENT_TIMEOUT_MS : 2000,
        giveUpAfterMs: 10_000,
        lateAnswerWindowMs: 500,
        progressIntervalMs: 1000,
      },
      {
        onAnswer: (answer) => {
          if (!answer.first) return;
          const t = Date.now();
          answerTimes.push(t);
          if (killedAt && !firstAfterKill) firstAfterKill = t;
        },
      },
    );
    clearTimeout(killer);
    if (!killedAt) throw new Error('the load ended before the kill');
    const survivor = await statusOf(secondaryUrl);
    const timeline = (survivor?.timeline ?? {}) as Record<string, number>;
    const after = (t: number | undefined) => (t ? t - killedAt : NaN);
    const clientGapMs = clientGapAfter(answerTimes, killedAt);
    if (!timeline.live) throw new Error(`the secondary did not go live (status: ${JSON.stringify(survivor)}; output: ${secondary.stderr().slice(-1000)})`);
    return {
      detectionMs: after(timeline['failure-detected']),
      claimWonMs: after(timeline['claim-won']),
      goLiveMs: after(timeline.live),
      clientGapMs,
      longestGapMs: summary.longestGapMs,
      firstAnswerAfterKillMs: firstAfterKill ? firstAfterKill - killedAt : NaN,
      answered: summary.answered,
      lost: summary.lost,
      duplicates: summary.duplicates,
    };
  } finally {
    for (const child of children) child.process.kill('SIGKILL');
    await Promise.all(children.map((c) => stopChild(c)));
    await rm(dir, { recursive: true, force: true });
  }
}
