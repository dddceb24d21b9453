// The chaos run's clients: seeded, retried, idempotent load against whatever nodes the lineage has
// now. Every request carries an Idempotency-Key; a key is retried on the next node when a node is
// down, frozen or not live (503/504), and every answer is kept, with its node and epoch, for the
// checkers. A timed-out attempt stays open for a while: a late answer is evidence too.
import http from 'node:http';
import { createRng } from '../client/rng.js';
import type { Workload } from '../client/workloads.js';
import type { AnswerRecord, KeyRecord } from './history.js';

export interface Target {
  id: string;
  url: string;
}

export interface ChaosLoadOptions {
  seed: number;
  workload: Workload;
  /** The nodes to send to, asked afresh for every attempt (the lineage changes under load). */
  targets(): Target[];
  /** Keys issued per second. */
  rate: number;
  concurrency: number;
  requestTimeoutMs: number;
  /** A timed-out attempt stays open this much longer, to catch a late answer. */
  lateAnswerWindowMs: number;
  giveUpAfterMs: number;
  /** ms since the run started. */
  now(): number;
}

/** Answers that are not the guest's: the node is not serving (secondary, fenced, stopping) or timed out. */
export const NOT_AN_ANSWER = new Set([503, 504]);
/**
 * Share of keys whose first attempt goes to a node picked at random rather than the one that answered
 * last (like clients behind round-robin DNS): a second node that serves is then seen by clients.
 */
export const SPREAD_FRACTION = 0.25;
const RETRY_BACKOFF_MS = 20;
/** Why a key's last attempts failed, kept per key for the report of a key no node answered. */
const RETRIES_KEPT = 6;
const RETRY_BACKOFF_MAX_MS = 400;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The `error` field of a node's JSON error answer, or the start of the body. */
function errorCodeOf(body: string): string {
  try {
    const code = (JSON.parse(body) as { error?: unknown }).error;
    if (typeof code === 'string') return code;
  } catch {
    /* not JSON */
  }
  return body.slice(0, 60);
}

type Outcome = { kind: 'answer'; answer: AnswerRecord } | { kind: 'retry'; reason: string };

/** One HTTP attempt. `onLate` receives an answer that arrives after the attempt timed out. */
export function attempt(target: Target, k: KeyRecord, timeoutMs: number, lingerMs: number, now: () => number, phase: AnswerRecord['phase'], onLate: (a: AnswerRecord) => void): Promise<Outcome> {
  const sentMs = now();
  return new Promise((resolve) => {
    let reported = false;
    const report = (o: Outcome) => {
      if (!reported) {
        reported = true;
        clearTimeout(timer);
        resolve(o);
      }
    };
    const { method, path, headers = {}, body = '' } = k.request;
    const req = http.request(new URL(path, target.url), {
      method,
      agent: false,
      headers: { ...headers, 'idempotency-key': k.key, 'content-length': Buffer.byteLength(body) },
    });
    req.on('error', (error: NodeJS.ErrnoException) => report({ kind: 'retry', reason: error.code ?? error.message }));
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', () => {});
      res.on('close', () => {
        clearTimeout(linger);
        if (!res.complete) return report({ kind: 'retry', reason: 'answer cut off' });
        const status = res.statusCode ?? 0;
        // The node's error code says why (not_live, fenced, unavailable, guest_timeout): kept for a key given up.
        if (NOT_AN_ANSWER.has(status)) return report({ kind: 'retry', reason: `${status} ${errorCodeOf(Buffer.concat(chunks).toString('utf8'))}` });
        const epochHeader = res.headers['x-lockstep-epoch'];
        const answer: AnswerRecord = {
          key: k.key,
          node: target.id,
          sentMs,
          doneMs: now(),
          status,
          body: Buffer.concat(chunks).toString('utf8'),
          epoch: typeof epochHeader === 'string' && epochHeader !== '' ? Number(epochHeader) : undefined,
          phase,
        };
        if (reported) onLate(answer);
        else report({ kind: 'answer', answer });
      });
    });
    const timer = setTimeout(() => report({ kind: 'retry', reason: 'timeout' }), timeoutMs);
    const linger = setTimeout(() => req.destroy(), timeoutMs + lingerMs);
    req.end(body);
  });
}

export class ChaosLoad {
  readonly answers: AnswerRecord[] = [];
  readonly keys: KeyRecord[] = [];
  private readonly rng;
  private readonly spreadRng;
  private issuing = true;
  private nextIndex = 0;
  private nextSlotMs = 0;
  private preferred = '';
  private workers: Promise<void>[] = [];
  private lateOpen = 0;

  constructor(private readonly o: ChaosLoadOptions) {
    this.rng = createRng(o.seed);
    this.spreadRng = createRng(o.seed ^ 0x5bd1e995);
  }

  start(): void {
    this.nextSlotMs = this.o.now();
    this.workers = Array.from({ length: this.o.concurrency }, () => this.worker());
  }

  /** Stops issuing keys; resolves when every outstanding key is answered or given up. */
  async stop(): Promise<void> {
    this.issuing = false;
    await Promise.all(this.workers);
    const deadline = this.o.now() + this.o.requestTimeoutMs + this.o.lateAnswerWindowMs;
    while (this.lateOpen > 0 && this.o.now() < deadline) await sleep(20);
  }

  private record(a: AnswerRecord): void {
    this.answers.push(a);
  }

  private async worker(): Promise<void> {
    while (this.issuing) {
      const waitMs = this.nextSlotMs - this.o.now();
      this.nextSlotMs = Math.max(this.nextSlotMs, this.o.now()) + 1000 / this.o.rate;
      if (waitMs > 0) await sleep(waitMs);
      if (!this.issuing) return;
      const index = this.nextIndex++;
      const k: KeyRecord = { key: `chaos-${this.o.seed}-${index}`, index, request: this.o.workload(index, this.rng), sentMs: this.o.now(), attempts: 0 };
      this.keys.push(k);
      await this.carry(k);
    }
  }

  /** Carries one key through its retries until it is answered or given up. */
  private async carry(k: KeyRecord): Promise<void> {
    let backoffMs = RETRY_BACKOFF_MS;
    let turn = -1;
    const spread = this.spreadRng.next() < SPREAD_FRACTION;
    while (this.o.now() - k.sentMs < this.o.giveUpAfterMs) {
      const targets = this.o.targets();
      if (targets.length === 0) {
        await sleep(backoffMs);
        continue;
      }
      if (turn < 0) turn = spread ? this.spreadRng.int(targets.length) : 0;
      const start = Math.max(0, targets.findIndex((t) => t.id === this.preferred));
      const target = targets[(start + turn) % targets.length]!;
      k.attempts++;
      this.lateOpen++;
      const outcome = await attempt(target, k, this.o.requestTimeoutMs, this.o.lateAnswerWindowMs, this.o.now, 'load', (late) => {
        this.record(late);
        k.first ??= late;
      });
      if (outcome.kind === 'answer') {
        this.lateOpen--;
        this.record(outcome.answer);
        k.first ??= outcome.answer;
        this.preferred = target.id;
        return;
      }
      k.lastRetries = [...(k.lastRetries ?? []), `${target.id} ${outcome.reason}`].slice(-RETRIES_KEPT);
      k.retryReasons = { ...k.retryReasons, [outcome.reason]: (k.retryReasons?.[outcome.reason] ?? 0) + 1 };
      // A timed-out attempt may still answer; stop() waits for it up to its linger deadline.
      setTimeout(() => this.lateOpen--, outcome.reason === 'timeout' ? this.o.lateAnswerWindowMs : 0);
      if (k.first) return;
      turn++;
      await sleep(backoffMs);
      backoffMs = Math.min(backoffMs * 2, RETRY_BACKOFF_MAX_MS);
    }
  }
}
