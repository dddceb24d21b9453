// Watches one node for the dashboard: polls its status and metrics, turns running totals into
// rates over the last second, and says when the node stops answering. Never throws: a dead
// node is a state to show, not an error.
import { parseExposition, sampleValue } from '../metrics/exposition-parser.js';
import { OUTPUT_EFFECTS } from '../metrics/node-metrics.js';
import { readNodeStatus, type NodeEvent, type NodeStatus } from '../metrics/node-status.js';

/** How long one poll may take before the node counts as not answering it. */
export const POLL_TIMEOUT_MS_DEFAULT = 1000;
/** Consecutive failed polls before a node is shown as down (one lost poll is not a death). */
export const DOWN_AFTER_FAILED_POLLS = 2;
/** Rates are taken over this window of samples. */
export const RATE_WINDOW_MS = 1000;
/**
 * Metrics (input bytes, hold times) are fetched at most this often: a scrape costs the node a few
 * ms (the default process metrics read /proc), and status alone carries the fast-moving figures.
 */
export const METRICS_POLL_INTERVAL_MS = 1000;
/** The VMware FT rule of thumb: logging bandwidth is about the input bandwidth times this. */
export const LOG_BANDWIDTH_INPUT_FACTOR = 1.2;

export interface NodeView {
  url: string;
  up: boolean;
  /** Why the last poll failed, when it did. */
  error?: string;
  /** When it was last seen answering (ms since the epoch), or null if never. */
  lastSeenMs: number | null;
  role?: string;
  state?: string;
  epoch?: number;
  protection?: string;
  /** Who decides epochs, as the node's status describes it (kind, endpoints, token, reachable). */
  arbiter?: Record<string, unknown>;
  peerConnected?: boolean;
  promotedFromSecondary?: boolean;
  lastSeq?: number;
  replayedSeq?: number;
  lagEntries?: number;
  lagSeconds?: number;
  outputsWaiting?: number;
  heartbeatRttSeconds?: number;
  eventsPerS?: number;
  /** Log bytes sent (primary) or received (secondary) per second. */
  logBytesPerS?: number;
  /** Request bytes handed to the guest per second, and the rule of thumb's expected log bandwidth. */
  inputBytesPerS?: number;
  expectedLogBytesPerS?: number;
  /** Mean output hold time over the last second (seconds), from the hold-time histogram. */
  holdSecondsMean?: number;
  timeline: Record<string, number>;
  /** The node's own event history, for the timeline; not sent to the page. */
  history?: NodeEvent[];
}

/** Running totals from the status, at one poll. */
interface StatusTotals {
  atMs: number;
  events: number;
  logBytes: number;
}

/** Running totals from the metrics, at one scrape. */
interface MetricsTotals {
  atMs: number;
  inputBytes: number;
  holdSum: number;
  holdCount: number;
}

/** Keeps samples spanning about RATE_WINDOW_MS and gives per-second rates over them. */
class RateWindow<T extends { atMs: number }> {
  private samples: T[] = [];

  push(sample: T): void {
    this.samples.push(sample);
    while (this.samples.length > 2 && sample.atMs - this.samples[1].atMs >= RATE_WINDOW_MS) this.samples.shift();
  }

  /** Increase of `pick` per second over the window, or undefined with fewer than two samples. */
  rate(pick: (t: T) => number): number | undefined {
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    const seconds = first && last ? (last.atMs - first.atMs) / 1000 : 0;
    return seconds > 0 ? Math.max(0, pick(last) - pick(first)) / seconds : undefined;
  }

  /** The increase of `pick` over the window. */
  delta(pick: (t: T) => number): number {
    return this.samples.length < 2 ? 0 : pick(this.samples[this.samples.length - 1]) - pick(this.samples[0]);
  }
}

export class NodeWatcher {
  private failedPolls = 0;
  private lastSeenMs: number | null = null;
  private status: NodeStatus | undefined;
  private error: string | undefined;
  private readonly statusWindow = new RateWindow<StatusTotals>();
  private readonly metricsWindow = new RateWindow<MetricsTotals>();
  private metricsAtMs = -Infinity;

  constructor(readonly url: string, private readonly timeoutMs = POLL_TIMEOUT_MS_DEFAULT) {}

  async poll(): Promise<NodeView> {
    try {
      const scrape = Date.now() - this.metricsAtMs >= METRICS_POLL_INTERVAL_MS;
      const [statusText, metricsText] = await Promise.all([this.get('/_lockstep/status'), scrape ? this.get('/_lockstep/metrics') : undefined]);
      this.status = readNodeStatus(JSON.parse(statusText));
      const s = this.status;
      this.statusWindow.push({ atMs: Date.now(), events: s.events ?? 0, logBytes: (s.logBytesSent ?? 0) + (s.logBytesReceived ?? 0) });
      if (metricsText !== undefined) this.recordMetrics(metricsText);
      this.failedPolls = 0;
      this.error = undefined;
      this.lastSeenMs = Date.now();
    } catch (error) {
      this.failedPolls++;
      this.error = error instanceof Error ? (error.cause instanceof Error ? error.cause.message : error.message) : String(error);
    }
    return this.view();
  }

  private async get(path: string): Promise<string> {
    const response = await fetch(new URL(path, this.url), { signal: AbortSignal.timeout(this.timeoutMs) });
    if (!response.ok) throw new Error(`${path} answered ${response.status}`);
    return response.text();
  }

  private recordMetrics(metricsText: string): void {
    const metrics = parseExposition(metricsText);
    const sum = (name: string) => OUTPUT_EFFECTS.reduce((a, effect) => a + (sampleValue(metrics, name, { effect }) ?? 0), 0);
    this.metricsAtMs = Date.now();
    this.metricsWindow.push({
      atMs: this.metricsAtMs,
      inputBytes: sampleValue(metrics, 'lockstep_input_bytes_total') ?? 0,
      holdSum: sum('lockstep_output_hold_seconds_sum'),
      holdCount: sum('lockstep_output_hold_seconds_count'),
    });
  }

  view(): NodeView {
    const up = this.lastSeenMs !== null && this.failedPolls < DOWN_AFTER_FAILED_POLLS;
    const base: NodeView = { url: this.url, up, error: this.error, lastSeenMs: this.lastSeenMs, timeline: this.status?.timeline ?? {} };
    if (!this.status || !up) return { ...base, role: this.status?.role, epoch: this.status?.epoch };
    const s = this.status;
    // Only a serving node takes input; a secondary's log bandwidth has no rule-of-thumb line.
    const inputBytesPerS = s.role === 'primary' || s.role === 'standalone' ? this.metricsWindow.rate((t) => t.inputBytes) : undefined;
    const holds = this.metricsWindow.delta((t) => t.holdCount);
    return {
      ...base,
      role: s.role,
      state: s.state,
      epoch: s.epoch,
      protection: s.protection,
      arbiter: s.arbiter,
      peerConnected: s.peerConnected,
      promotedFromSecondary: s.promotedFromSecondary,
      history: s.history,
      lastSeq: s.lastSeq,
      replayedSeq: s.replayedSeq,
      lagEntries: s.lagEntries,
      lagSeconds: s.lagSeconds,
      outputsWaiting: s.outputsWaiting,
      heartbeatRttSeconds: s.heartbeatRttSeconds,
      eventsPerS: this.statusWindow.rate((t) => t.events),
      logBytesPerS: this.statusWindow.rate((t) => t.logBytes),
      inputBytesPerS,
      expectedLogBytesPerS: inputBytesPerS === undefined ? undefined : inputBytesPerS * LOG_BANDWIDTH_INPUT_FACTOR,
      holdSecondsMean: holds > 0 ? this.metricsWindow.delta((t) => t.holdSum) / holds : undefined,
    };
  }
}
