// Watches one node for the dashboard: polls its status and metrics, turns running totals into
// rates over the last second, and says when the node stops answering. Never throws: a dead
// node is a state to show, not an error.
import { parseExposition, sampleValue } from '../metrics/exposition-parser.js';
import { readNodeStatus, type NodeStatus } from '../metrics/node-status.js';

/** How long one poll may take before the node counts as not answering it. */
export const POLL_TIMEOUT_MS_DEFAULT = 1000;
/** Consecutive failed polls before a node is shown as down (one lost poll is not a death). */
export const DOWN_AFTER_FAILED_POLLS = 2;
/** Rates are taken over this window of samples. */
export const RATE_WINDOW_MS = 1000;
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
  epoch?: number;
  protection?: string;
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
}

interface Totals {
  atMs: number;
  events: number;
  logBytes: number;
  inputBytes: number;
  holdSum: number;
  holdCount: number;
}

export class NodeWatcher {
  private failedPolls = 0;
  private lastSeenMs: number | null = null;
  private status: NodeStatus | undefined;
  private error: string | undefined;
  private history: Totals[] = [];

  constructor(readonly url: string, private readonly timeoutMs = POLL_TIMEOUT_MS_DEFAULT) {}

  async poll(): Promise<NodeView> {
    try {
      const [statusText, metricsText] = await Promise.all([this.get('/_lockstep/status'), this.get('/_lockstep/metrics')]);
      this.status = readNodeStatus(JSON.parse(statusText));
      this.record(this.status, metricsText);
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

  private record(status: NodeStatus, metricsText: string): void {
    const metrics = parseExposition(metricsText);
    const sum = (name: string) => ['respond', 'console', 'write'].reduce((a, effect) => a + (sampleValue(metrics, name, { effect }) ?? 0), 0);
    const now = Date.now();
    this.history.push({
      atMs: now,
      events: status.events ?? 0,
      logBytes: (sampleValue(metrics, 'lockstep_log_sent_bytes_total') ?? 0) + (sampleValue(metrics, 'lockstep_log_received_bytes_total') ?? 0),
      inputBytes: sampleValue(metrics, 'lockstep_input_bytes_total') ?? 0,
      holdSum: sum('lockstep_output_hold_seconds_sum'),
      holdCount: sum('lockstep_output_hold_seconds_count'),
    });
    while (this.history.length > 2 && now - this.history[1].atMs >= RATE_WINDOW_MS) this.history.shift();
  }

  view(): NodeView {
    const up = this.lastSeenMs !== null && this.failedPolls < DOWN_AFTER_FAILED_POLLS;
    const base: NodeView = { url: this.url, up, error: this.error, lastSeenMs: this.lastSeenMs, timeline: this.status?.timeline ?? {} };
    if (!this.status || !up) return { ...base, role: this.status?.role, epoch: this.status?.epoch };
    const s = this.status;
    const first = this.history[0];
    const last = this.history[this.history.length - 1];
    const seconds = (last.atMs - first.atMs) / 1000;
    const rate = (pick: (t: Totals) => number) => (seconds > 0 ? Math.max(0, pick(last) - pick(first)) / seconds : undefined);
    const inputBytesPerS = rate((t) => t.inputBytes);
    const holds = last.holdCount - first.holdCount;
    return {
      ...base,
      role: s.role,
      epoch: s.epoch,
      protection: s.protection,
      peerConnected: s.peerConnected,
      promotedFromSecondary: s.promotedFromSecondary,
      lastSeq: s.lastSeq,
      replayedSeq: s.replayedSeq,
      lagEntries: s.lagEntries,
      lagSeconds: s.lagSeconds,
      outputsWaiting: s.outputsWaiting,
      heartbeatRttSeconds: s.heartbeatRttSeconds,
      eventsPerS: rate((t) => t.events),
      logBytesPerS: rate((t) => t.logBytes),
      inputBytesPerS,
      expectedLogBytesPerS: inputBytesPerS === undefined ? undefined : inputBytesPerS * LOG_BANDWIDTH_INPUT_FACTOR,
      holdSecondsMean: holds > 0 ? (last.holdSum - first.holdSum) / holds : undefined,
    };
  }
}
