// Failover-aware load client: issues requests with unique Idempotency-Keys, retries a key on
// another target when a node is down or still secondary, and keeps every answer it was told so
// a caller can check that nothing was lost and no key got two different answers.

import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { assert } from '../assert.js';
import { createRng } from './rng.js';
import { makeWorkload, type LoadRequest, type Workload } from './workloads.js';

export interface LoadOptions {
  /** Base URLs of the nodes, e.g. http://127.0.0.1:8080. */
  targets: string[];
  /** Keys issued per second over all workers; 0 = as fast as `concurrency` allows. */
  rate?: number;
  /** Issue new keys for this long; outstanding keys are still retried afterwards. */
  durationMs?: number;
  /** Keys in flight at once (each worker carries one key through all its retries). */
  concurrency?: number;
  /** An attempt with no complete answer by then is retried elsewhere (but kept open, see below). */
  requestTimeoutMs?: number;
  /** First pause before a retry; doubled per retry up to `retryBackoffMaxMs`. */
  retryBackoffMs?: number;
  retryBackoffMaxMs?: number;
  /** A key with no answer this long after its first attempt is given up and counted as lost. */
  giveUpAfterMs?: number;
  /** A timed-out attempt stays open this much longer: a late answer that differs is a duplicate. */
  lateAnswerWindowMs?: number;
  workload?: Workload;
  /** Seeds the PRNG the workload draws from; request contents are a function of it. */
  seed?: number;
  /** Prefix of every Idempotency-Key; random by default so reruns never reuse a stored key. */
  runId?: string;
  /** How many duplicate and lost keys the summary lists by name. */
  examplesMax?: number;
  progressIntervalMs?: number;
}

export const loadDefaults = {
  rate: 100,
  durationMs: 10_000,
  concurrency: 16,
  requestTimeoutMs: 2000,
  retryBackoffMs: 25,
  retryBackoffMaxMs: 500,
  giveUpAfterMs: 30_000,
  lateAnswerWindowMs: 3000,
  examplesMax: 5,
  progressIntervalMs: 250,
} as const;

export interface LoadProgress {
  elapsedMs: number;
  phase: 'issuing' | 'draining' | 'done';
  sent: number;
  attempts: number;
  answered: number;
  retried: number;
  duplicates: number;
  /** Keys given up so far. */
  lost: number;
  outstanding: number;
  /** Answers per second over roughly the last second. */
  answersPerS: number;
  currentTarget: string;
  /** Since the last answer, or since the start if none yet. */
  msSinceLastAnswer: number;
}

/** One answer as it arrives; a key may have more than one (`first` false for the later ones). */
export interface Answer {
  key: string;
  index: number;
  status: number;
  body: string;
  target: string;
  attempt: number;
  first: boolean;
  /** Of the attempt that brought this answer. */
  latencyMs: number;
  /** From the key's first attempt to this answer, retries included. */
  keyLatencyMs: number;
}

/** What the client was told for a key: the first answer, with the request that asked. */
export interface KeyAnswer {
  index: number;
  request: LoadRequest;
  status: number;
  body: string;
  target: string;
}

export interface LatencyStats {
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface LoadSummary {
  runId: string;
  seed: number;
  targets: string[];
  elapsedMs: number;
  sent: number;
  attempts: number;
  answered: number;
  retried: number;
  duplicates: number;
  duplicateExamples: { key: string; first: { status: number; body: string; target: string }; later: { status: number; body: string; target: string } }[];
  lost: number;
  lostExamples: { key: string; attempts: number; lastError: string }[];
  statusCounts: Record<string, number>;
  longestGapMs: number;
  /** Offset from the start of the run at which the longest gap began. */
  longestGapStartMs: number;
  attemptLatency: LatencyStats;
  keyLatency: LatencyStats;
  answersPerS: number;
  answersByTarget: Record<string, number>;
  /** Every answered key -> its first answer. Not printed: for callers that verify server state. */
  answers: Map<string, KeyAnswer>;
}

export interface LoadHooks {
  onProgress?(p: LoadProgress): void;
  onAnswer?(a: Answer): void;
}

interface KeyState {
  key: string;
  index: number;
  request: LoadRequest;
  startedAt: number;
  attempts: number;
  first?: Answer;
  duplicate: boolean;
  givenUp: boolean;
  lastError: string;
}

type AttemptOutcome = { kind: 'answer' } | { kind: 'retry'; reason: string };

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const now = () => performance.now();

export async function runLoad(options: LoadOptions, hooks: LoadHooks = {}): Promise<LoadSummary> {
  const o = { ...loadDefaults, ...definedOnly(options) };
  assert(o.targets.length > 0, 'runLoad needs at least one target');
  const targets = o.targets.map((t) => t.replace(/\/+$/, ''));
  const seed = (options.seed ?? randomBytes(4).readUInt32BE()) >>> 0;
  const runId = options.runId ?? randomBytes(6).toString('hex');
  const workload = options.workload ?? makeWorkload('counter');
  const rng = createRng(seed);
  // Unlimited sockets: a lingering timed-out attempt must not hold up the next key.
  const agent = new http.Agent({ keepAlive: true });
  const open = new Set<http.ClientRequest>();

  const startedAt = now();
  const issueUntil = startedAt + o.durationMs;
  const intervalMs = o.rate > 0 ? 1000 / o.rate : 0;
  let nextSlotAt = startedAt;
  let nextIndex = 0;
  let currentTarget = 0;
  let lastAnswerAt = startedAt;
  let longestGapMs = 0;
  let longestGapStartMs = 0;
  const counts = { sent: 0, attempts: 0, answered: 0, retried: 0, duplicates: 0, lost: 0 };
  const keys: KeyState[] = [];
  const attemptLatencies: number[] = [];
  const keyLatencies: number[] = [];
  const statusCounts: Record<string, number> = {};
  const answersByTarget: Record<string, number> = Object.fromEntries(targets.map((t) => [t, 0]));
  const duplicateExamples: LoadSummary['duplicateExamples'] = [];

  function recordAnswer(k: KeyState, status: number, body: string, target: number, attempt: number, latencyMs: number): void {
    const t = now();
    if (t - lastAnswerAt > longestGapMs) {
      longestGapMs = t - lastAnswerAt;
      longestGapStartMs = lastAnswerAt - startedAt;
    }
    lastAnswerAt = t;
    currentTarget = target; // stick to whoever answered last
    const a: Answer = { key: k.key, index: k.index, status, body, target: targets[target]!, attempt, first: !k.first, latencyMs, keyLatencyMs: t - k.startedAt };
    if (!k.first) {
      k.first = a;
      counts.answered++;
      if (k.givenUp) counts.lost--; // answered late after all
      statusCounts[status] = (statusCounts[status] ?? 0) + 1;
      answersByTarget[a.target] = (answersByTarget[a.target] ?? 0) + 1;
      attemptLatencies.push(latencyMs);
      keyLatencies.push(a.keyLatencyMs);
    } else if ((k.first.status !== status || k.first.body !== body) && !k.duplicate) {
      k.duplicate = true;
      counts.duplicates++;
      if (duplicateExamples.length < o.examplesMax) {
        const pick = (x: Answer) => ({ status: x.status, body: x.body, target: x.target });
        duplicateExamples.push({ key: k.key, first: pick(k.first), later: pick(a) });
      }
    }
    hooks.onAnswer?.(a);
  }

  function attempt(k: KeyState, target: number): Promise<AttemptOutcome> {
    counts.attempts++;
    const n = ++k.attempts;
    if (n === 2) counts.retried++;
    const t0 = now();
    return new Promise((resolve) => {
      let reported = false;
      const report = (outcome: AttemptOutcome) => {
        if (reported) return;
        reported = true;
        clearTimeout(timeout);
        resolve(outcome);
      };
      const fail = (reason: string) => {
        k.lastError = reason;
        report({ kind: 'retry', reason });
      };
      const { method, path, headers = {}, body = '' } = k.request;
      const req = http.request(new URL(path, targets[target]), {
        method,
        agent,
        headers: { ...headers, 'idempotency-key': k.key, 'content-length': Buffer.byteLength(body) },
      });
      open.add(req);
      req.on('close', () => {
        open.delete(req);
        clearTimeout(linger);
      });
      req.on('error', (err: NodeJS.ErrnoException) => fail(`${err.code ?? err.message} from ${targets[target]}`));
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', () => {}); // the 'close' check below reports it
        res.on('close', () => {
          if (!res.complete) return fail(`answer cut off by ${targets[target]}`);
          const status = res.statusCode ?? 0;
          // 503 means the node is not serving (a secondary says x-lockstep-role): not an answer.
          if (status === 503) return fail(`503 (${res.headers['x-lockstep-role'] ?? 'no role'}) from ${targets[target]}`);
          recordAnswer(k, status, Buffer.concat(chunks).toString('utf8'), target, n, now() - t0);
          report({ kind: 'answer' });
        });
      });
      const timeout = setTimeout(() => fail(`timeout after ${o.requestTimeoutMs} ms from ${targets[target]}`), o.requestTimeoutMs);
      const linger = setTimeout(() => req.destroy(), o.requestTimeoutMs + o.lateAnswerWindowMs);
      req.end(body);
    });
  }

  /** Carries one key until it is answered or given up. */
  async function runKey(k: KeyState): Promise<void> {
    let target = currentTarget;
    let backoffMs = o.retryBackoffMs;
    for (;;) {
      const outcome = await attempt(k, target);
      if (outcome.kind === 'answer' || k.first) return; // k.first: a late answer to an earlier attempt
      const leftMs = k.startedAt + o.giveUpAfterMs - now();
      if (leftMs <= 0) return;
      target = (target + 1) % targets.length;
      await sleep(Math.min(backoffMs, leftMs));
      backoffMs = Math.min(backoffMs * 2, o.retryBackoffMaxMs);
      if (k.first) return;
    }
  }

  /** Takes the next key and its send time; undefined once the run stops issuing. */
  function takeKey(): { k: KeyState; sendAt: number } | undefined {
    const sendAt = Math.max(nextSlotAt, now());
    if (sendAt >= issueUntil) return undefined;
    // No catch-up burst after a stall: the next slot counts from now, not from the schedule.
    nextSlotAt = sendAt + intervalMs;
    const index = nextIndex++;
    // Drawn here, in key order, so request contents depend only on the seed.
    const request = workload(index, rng);
    const k: KeyState = { key: `${runId}-${index}`, index, request, startedAt: 0, attempts: 0, duplicate: false, givenUp: false, lastError: '' };
    keys.push(k);
    return { k, sendAt };
  }

  async function worker(): Promise<void> {
    for (let next = takeKey(); next; next = takeKey()) {
      const waitMs = next.sendAt - now();
      if (waitMs > 0) await sleep(waitMs);
      next.k.startedAt = now();
      counts.sent++;
      await runKey(next.k);
      if (!next.k.first) {
        next.k.givenUp = true;
        counts.lost++;
      }
    }
  }

  const samples = [{ t: startedAt, answered: 0 }];
  let done = false;
  const progress = (): LoadProgress => {
    const t = now();
    samples.push({ t, answered: counts.answered });
    while (samples.length > 1 && t - samples[0]!.t > 1000) samples.shift();
    const oldest = samples[0]!;
    return {
      elapsedMs: t - startedAt,
      phase: done ? 'done' : t < issueUntil ? 'issuing' : 'draining',
      ...counts,
      outstanding: counts.sent - counts.answered - counts.lost,
      answersPerS: t > oldest.t ? ((counts.answered - oldest.answered) * 1000) / (t - oldest.t) : 0,
      currentTarget: targets[currentTarget]!,
      msSinceLastAnswer: t - lastAnswerAt,
    };
  };
  const ticker = hooks.onProgress ? setInterval(() => hooks.onProgress!(progress()), o.progressIntervalMs) : undefined;

  try {
    await Promise.all(Array.from({ length: o.concurrency }, worker));
    // Timed-out attempts may still answer; each closes by its own linger deadline.
    while (open.size > 0) await sleep(10);
  } finally {
    clearInterval(ticker);
    for (const req of open) req.destroy();
    agent.destroy();
  }
  done = true;
  hooks.onProgress?.(progress());

  const elapsedMs = now() - startedAt;
  const answers = new Map<string, KeyAnswer>();
  const lostExamples: LoadSummary['lostExamples'] = [];
  for (const k of keys) {
    if (k.first) {
      answers.set(k.key, { index: k.index, request: k.request, status: k.first.status, body: k.first.body, target: k.first.target });
    } else if (lostExamples.length < o.examplesMax) {
      lostExamples.push({ key: k.key, attempts: k.attempts, lastError: k.lastError });
    }
  }
  return {
    runId,
    seed,
    targets,
    elapsedMs,
    sent: counts.sent,
    attempts: counts.attempts,
    answered: counts.answered,
    retried: counts.retried,
    duplicates: counts.duplicates,
    duplicateExamples,
    // Counted from the final state: a key given up may still have been answered late.
    lost: keys.length - counts.answered,
    lostExamples,
    statusCounts,
    longestGapMs: counts.answered === 0 ? elapsedMs : longestGapMs,
    longestGapStartMs,
    attemptLatency: latencyStats(attemptLatencies),
    keyLatency: latencyStats(keyLatencies),
    answersPerS: elapsedMs > 0 ? (counts.answered * 1000) / elapsedMs : 0,
    answersByTarget,
    answers,
  };
}

/** Nearest-rank percentiles; all zero when there were no answers. */
export function latencyStats(values: number[]): LatencyStats {
  if (values.length === 0) return { p50Ms: 0, p99Ms: 0, maxMs: 0 };
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!;
  return { p50Ms: at(0.5), p99Ms: at(0.99), maxMs: sorted[sorted.length - 1]! };
}

/** Lets callers pass `{rate: undefined}` without wiping out the default. */
function definedOnly<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
