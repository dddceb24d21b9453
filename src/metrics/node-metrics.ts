// One node's Prometheus metrics (prom-client): gauges and counters computed at scrape time from
// the node's status snapshot, plus the few things status cannot tell (how long each output was
// held by the output rule, entries logged, acks, input bytes), recorded as they happen.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { readNodeStatus, type NodeStatus } from './node-status.js';

export const ROLES = ['primary', 'secondary', 'standalone', 'fenced', 'diverged', 'stopped'] as const;
export const PROTECTION_STATES = ['unprotected', 'catching-up', 'protected', 'arbitrating'] as const;
export const OUTPUT_EFFECTS = ['respond', 'console', 'write'] as const;
/** Output hold time buckets, in seconds: from a same-host ack (sub-ms) to a failure timeout. */
export const OUTPUT_HOLD_BUCKETS_SECONDS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export type OutputEffect = (typeof OUTPUT_EFFECTS)[number];

export class NodeMetrics {
  readonly registry = new Registry();
  private snapshot: NodeStatus = readNodeStatus({});
  readonly outputHold: Histogram<'effect'>;
  readonly entriesLogged: Counter;
  readonly acksReceived: Counter;
  readonly inputBytes: Counter;

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.outputHold = new Histogram({
      name: 'lockstep_output_hold_seconds',
      help: 'How long each output (answer, console line, disk write) waited for the output rule before it left',
      labelNames: ['effect'],
      buckets: OUTPUT_HOLD_BUCKETS_SECONDS,
      registers,
    });
    for (const effect of OUTPUT_EFFECTS) this.outputHold.zero({ effect });
    this.entriesLogged = new Counter({ name: 'lockstep_entries_logged_total', help: 'Log entries this node produced while live', registers });
    this.acksReceived = new Counter({ name: 'lockstep_acks_received_total', help: 'Acknowledgements received from the secondary', registers });
    this.inputBytes = new Counter({ name: 'lockstep_input_bytes_total', help: 'Bytes of HTTP requests handed to the guest (request line, headers, body): the input of the log bandwidth rule of thumb', registers });
    this.statusMetrics(registers);
  }

  /** Renders the exposition text for this status snapshot. */
  async render(status: unknown): Promise<string> {
    this.snapshot = readNodeStatus(status);
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  private statusMetrics(registers: Registry[]): void {
    const s = () => this.snapshot;
    const enumGauge = (name: string, help: string, label: string, values: readonly string[], current: () => string | undefined) =>
      new Gauge({
        name,
        help,
        labelNames: [label],
        registers,
        collect() {
          const now = current();
          for (const value of values) this.set({ [label]: value }, value === now ? 1 : 0);
          if (now !== undefined && !values.includes(now)) this.set({ [label]: now }, 1);
        },
      });
    enumGauge('lockstep_role', 'The role of this node (1 for the current one)', 'role', ROLES, () => s().role);
    enumGauge('lockstep_protection', 'Protection state of a serving node (1 for the current one; all 0 on a secondary)', 'state', PROTECTION_STATES, () => s().protection);

    const gauge = (name: string, help: string, read: (s: NodeStatus) => number | boolean | undefined) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          const value = read(s());
          if (value === undefined) this.reset();
          else this.set(Number(value));
        },
      });
    gauge('lockstep_epoch', 'Current epoch (claims won by the pair so far)', (x) => x.epoch);
    gauge('lockstep_log_last_seq', 'Highest log entry number held (logged by a primary, received by a secondary)', (x) => x.lastSeq);
    gauge('lockstep_log_acked_seq', 'Highest log entry number acknowledged by the secondary', (x) => x.ackedSeq);
    gauge('lockstep_log_replayed_seq', 'Highest log entry number replayed (secondary)', (x) => x.replayedSeq);
    gauge('lockstep_lag_entries', 'Log entries not yet acknowledged (primary) or not yet replayed (secondary)', (x) => x.lagEntries);
    gauge('lockstep_lag_seconds', 'Age of the oldest unacknowledged log batch (primary)', (x) => x.lagSeconds);
    gauge('lockstep_unacked_log_bytes', 'Log bytes sent and not yet acknowledged (flow control bound: --unacked-bytes-max)', (x) => x.unackedBytes);
    gauge('lockstep_outputs_waiting', 'Outputs held by the output rule right now', (x) => x.outputsWaiting);
    gauge('lockstep_heartbeat_rtt_seconds', 'Round trip of the last heartbeat on the logging channel', (x) => x.heartbeatRttSeconds);
    gauge('lockstep_peer_connected', '1 if the peer is attached (primary) or connected (secondary)', (x) => x.peerConnected);

    // Counters the node keeps as running totals in its status: a counter only moves forward, so
    // a total that restarts (a promoted secondary's new channel) is added on, never subtracted.
    const counter = (name: string, help: string, read: (s: NodeStatus) => number | undefined) => {
      let last = 0;
      return new Counter({
        name,
        help,
        registers,
        collect() {
          const value = read(s());
          if (value === undefined) return;
          if (value > last) this.inc(value - last);
          last = value;
        },
      });
    };
    counter('lockstep_events_total', 'Events delivered to the guest (requests, timers, disk completions), live or replayed', (x) => x.events);
    counter('lockstep_log_sent_bytes_total', 'Log bytes sent to the secondary', (x) => x.logBytesSent);
    counter('lockstep_log_received_bytes_total', 'Log bytes received from the primary', (x) => x.logBytesReceived);
    counter('lockstep_log_frames_sent_total', 'Sealed frames the primary sent on the logging channel (batches, heartbeats, checkpoint chunks)', (x) => x.logFramesSent);
    counter('lockstep_log_frames_received_total', 'Sealed frames the primary received on the logging channel (acks, heartbeats, replay reports)', (x) => x.logFramesReceived);
    counter('lockstep_failovers_total', 'Times this node went live in place of a failed primary', (x) => (x.timeline.live !== undefined ? 1 : 0));
    counter('lockstep_divergences_total', 'Replay divergences detected by this node (it stops replaying)', (x) => (x.role === 'diverged' ? 1 : 0));
    counter('lockstep_shadow_divergences_total', "A shadow's answers (or inputs asked for) that differed from what the primary released", (x) => x.shadowDivergences);
  }
}

let current: NodeMetrics | undefined;

/** The process's metrics: one node per process (as `lockstep primary|secondary|run` run). */
export function nodeMetrics(): NodeMetrics {
  current ??= new NodeMetrics();
  return current;
}
