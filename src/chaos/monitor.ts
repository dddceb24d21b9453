// Polls every live node's status endpoint, as an operator's dashboard would, and keeps the samples
// for the supervisor (who is primary, is the pair protected) and for the checkers (two primaries).
// A frozen node does not answer: it simply has no sample in that round.
import http from 'node:http';
import type { StatusSample } from './history.js';
import type { ChaosNode } from './lineage.js';

export const STATUS_POLL_MS = 100;
export const STATUS_TIMEOUT_MS = 400;
/** Samples kept (about 10 per node per second). */
export const SAMPLES_MAX = 500_000;

function getStatus(url: string): Promise<Record<string, any> | undefined> {
  return new Promise((resolveOnce) => {
    // One deadline whatever happens (a node frozen mid-answer must not stall the polling round).
    let settled = false;
    const resolve = (value: Record<string, any> | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      req.destroy();
      resolveOnce(value);
    };
    const deadline = setTimeout(() => resolve(undefined), STATUS_TIMEOUT_MS);
    const req = http.get(new URL('/_lockstep/status', url), { agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        try {
          resolve(res.statusCode === 200 ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : undefined);
        } catch {
          resolve(undefined);
        }
      });
      res.on('error', () => resolve(undefined));
      res.on('close', () => resolve(undefined));
    });
    req.on('error', () => resolve(undefined));
    req.on('close', () => setImmediate(() => resolve(undefined)));
  });
}

export class Monitor {
  readonly samples: StatusSample[] = [];
  /** The newest sample of each node. */
  readonly latest = new Map<string, StatusSample>();
  round = 0;
  private running = false;
  private loop: Promise<void> | undefined;
  private waiters: Array<() => void> = [];

  constructor(private readonly nodes: () => ChaosNode[], private readonly now: () => number) {}

  start(): void {
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  /** Resolves after the next complete polling round. */
  nextRound(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private async run(): Promise<void> {
    while (this.running) {
      const started = this.now();
      const round = ++this.round;
      await Promise.all(
        this.nodes().filter((n) => n.alive).map(async (n) => {
          const s = await getStatus(n.record.url);
          if (!s || !n.alive) return;
          const sample: StatusSample = {
            round,
            tMs: this.now(),
            node: n.record.id,
            role: String(s.role),
            epoch: Number(s.epoch ?? 0),
            protection: s.protection,
            connected: s.connected,
            lastSeq: s.lastSeq,
            replayedSeq: s.replayedSeq,
            receivedSeq: s.receivedSeq,
            logListen: s.logListen,
          };
          if (this.samples.length < SAMPLES_MAX) this.samples.push(sample);
          this.latest.set(n.record.id, sample);
        }),
      );
      const waiters = this.waiters;
      this.waiters = [];
      for (const w of waiters) w();
      const restMs = STATUS_POLL_MS - (this.now() - started);
      if (restMs > 0) await new Promise((r) => setTimeout(r, restMs));
    }
    for (const w of this.waiters) w();
  }
}
