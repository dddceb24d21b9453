// Reads a node's `/_lockstep/status` object (primary, secondary, standalone, promoted secondary)
// into one flat shape with units, so the metrics and the dashboard do not each guess at fields.
// Every field is optional: a status from an older or newer node must not break a reader.

export interface NodeStatus {
  role?: string;
  /** A secondary's state machine (connecting, catching-up, following, going-live, ...), where reported. */
  state?: string;
  epoch?: number;
  protection?: string;
  /** Highest entry this node holds: logged (primary) or received (secondary). */
  lastSeq?: number;
  ackedSeq?: number;
  replayedSeq?: number;
  events?: number;
  lagEntries?: number;
  lagSeconds?: number;
  unackedBytes?: number;
  outputsWaiting?: number;
  heartbeatRttSeconds?: number;
  logBytesSent?: number;
  logBytesReceived?: number;
  logFramesSent?: number;
  logFramesReceived?: number;
  /** The secondary is connected to its primary, or the primary has a secondary attached. */
  peerConnected?: boolean;
  promotedFromSecondary?: boolean;
  /** A shadow: answers or inputs of its program that differed from the primary's (it follows on after an answer's). */
  shadowDivergences?: number;
  logListen?: string;
  /** Who decides epochs (kind, where, the epoch's token, whether it answers), as the node describes it. */
  arbiter?: Record<string, unknown>;
  /** Go-live steps of a promoted secondary, wall-clock ms (failure-detected, claim-won, live). */
  timeline: Record<string, number>;
  /** Everything the node says happened to it, with its own times (nodes that report `history`). */
  history?: NodeEvent[];
}

export interface NodeEvent {
  event: string;
  atMs: number;
  detail?: string;
}

const num = (value: unknown): number | undefined => (typeof value === 'number' && Number.isFinite(value) ? value : undefined);
const str = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);
const seconds = (ms: unknown): number | undefined => (num(ms) === undefined ? undefined : (ms as number) / 1000);

export function readNodeStatus(raw: unknown): NodeStatus {
  const s = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
  const timeline: Record<string, number> = {};
  if (typeof s.timeline === 'object' && s.timeline !== null) {
    for (const [step, at] of Object.entries(s.timeline)) if (num(at) !== undefined) timeline[step] = at as number;
  }
  const history = Array.isArray(s.history)
    ? s.history.flatMap((e: unknown) => {
        const r = (typeof e === 'object' && e !== null ? e : {}) as Record<string, unknown>;
        return str(r.event) !== undefined && num(r.atMs) !== undefined ? [{ event: r.event as string, atMs: r.atMs as number, ...(str(r.detail) !== undefined ? { detail: r.detail as string } : {}) }] : [];
      })
    : undefined;
  const peerConnected = typeof s.connected === 'boolean' ? s.connected : 'secondary' in s ? s.secondary !== null && s.secondary !== undefined : undefined;
  return {
    role: str(s.role),
    state: str(s.state),
    epoch: num(s.epoch),
    protection: str(s.protection),
    lastSeq: num(s.lastSeq) ?? num(s.receivedSeq),
    ackedSeq: num(s.ackedSeq),
    replayedSeq: num(s.replayedSeq),
    events: num(s.events),
    lagEntries: num(s.lagEntries),
    lagSeconds: seconds(s.lagMs),
    unackedBytes: num(s.unackedBytes),
    outputsWaiting: num(s.outputsWaiting),
    heartbeatRttSeconds: seconds(s.heartbeatRttMs),
    logBytesSent: num(s.logBytesSent),
    logBytesReceived: num(s.logBytesReceived),
    logFramesSent: num(s.logFramesSent),
    logFramesReceived: num(s.logFramesReceived),
    peerConnected,
    promotedFromSecondary: s.promotedFromSecondary === true,
    shadowDivergences: num(s.divergences),
    logListen: str(s.logListen),
    arbiter: typeof s.arbiter === 'object' && s.arbiter !== null && !Array.isArray(s.arbiter) ? (s.arbiter as Record<string, unknown>) : undefined,
    timeline,
    history,
  };
}
