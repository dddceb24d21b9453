// What happened to the pair, in order. A node that reports its own `history` is taken at its
// word, with its own times (attach, catching up, protected, failure detected, claim won, live,
// divergence...); for an older node the differences between successive views stand in. Down and
// up are what the dashboard itself saw. Bounded: the oldest events drop out.
import type { NodeEvent } from '../metrics/node-status.js';
import type { NodeView } from './node-watcher.js';

/** Timeline events kept (and sent to the page). */
export const TIMELINE_EVENTS_MAX = 200;
/** A secondary this many entries behind its log is catching up, not following. */
export const CATCHING_UP_ENTRIES = 200;

export type TimelineKind =
  | 'seen'
  | 'attach'
  | 'detach'
  | 'catching-up'
  | 'caught-up'
  | 'protected'
  | 're-protected'
  | 'unprotected'
  | 'arbitrating'
  | 'failure-detected'
  | 'claim-won'
  | 'live'
  | 'divergence'
  | 'fenced'
  | 'down'
  | 'up'
  | 'killed'
  | 'restarted'
  | 'following'
  | 'cannot-take-over'
  | 'shadow-divergence'
  | 'switchover'
  | 'other';

export interface TimelineEvent {
  atMs: number;
  url: string;
  kind: TimelineKind;
  text: string;
}

interface Memory {
  view: NodeView;
  /** This node has been protected before (so the next protection is a re-protection). */
  wasProtected: boolean;
  catchingUp: boolean;
  /** The newest history time taken in, and the events taken in at exactly that time. */
  historyAtMs: number;
  historyKeys: Set<string>;
}

/** How a node's own event names read on the timeline. */
const NODE_EVENTS: Record<string, [TimelineKind, string]> = {
  attach: ['attach', 'a secondary attached'],
  'catching-up': ['catching-up', 'catching up on the log'],
  following: ['following', 'following the primary, caught up'],
  protected: ['protected', 'protected: the secondary acknowledges the log'],
  unprotected: ['unprotected', 'unprotected: no secondary'],
  arbitrating: ['arbitrating', 'secondary failed: holding outputs while claiming the next epoch'],
  'failure-detected': ['failure-detected', 'failure of the primary detected'],
  'claim-won': ['claim-won', 'won the claim'],
  live: ['live', 'LIVE: serving as the new primary'],
  fenced: ['fenced', 'lost arbitration: serves nothing'],
  diverged: ['divergence', 'replay diverged from the log: this node never goes live'],
  'cannot-take-over': ['cannot-take-over', 'cannot take over: it does not hold the whole log'],
  'shadow-divergence': ['shadow-divergence', 'shadow: the new program differs from the primary'],
  'switchover-begin': ['switchover', 'switchover: no longer admitting requests, handing over to the shadow'],
  'switchover-stop': ['switchover', 'switchover: planned stop logged'],
  'switchover-abandoned': ['switchover', 'switchover abandoned'],
  'handed-over': ['switchover', 'handed the primary role over'],
};

const historyKey = (e: NodeEvent) => `${e.event}@${e.atMs}@${e.detail ?? ''}`;

export class Timeline {
  readonly events: TimelineEvent[] = [];
  private readonly memory = new Map<string, Memory>();

  private add(url: string, kind: TimelineKind, text: string, atMs = Date.now()): void {
    this.events.push({ atMs, url, kind, text });
    // Go-live steps carry the node's own times, which may be earlier than events already seen.
    this.events.sort((a, b) => a.atMs - b.atMs);
    if (this.events.length > TIMELINE_EVENTS_MAX) this.events.splice(0, this.events.length - TIMELINE_EVENTS_MAX);
  }

  /** Something done to a node from outside (the demo's buttons), which no status can show. */
  note(url: string, kind: 'killed' | 'restarted', text: string): void {
    this.add(url, kind, text);
  }

  observe(view: NodeView): void {
    const before = this.memory.get(view.url);
    const mem: Memory = before ?? { view, wasProtected: false, catchingUp: false, historyAtMs: -Infinity, historyKeys: new Set() };
    this.memory.set(view.url, mem);
    const prev = before?.view;
    if (!view.up) {
      if (prev?.up) this.add(view.url, 'down', `stopped answering (${view.error ?? 'no answer'})`);
      mem.view = view;
      return;
    }
    if (!prev || (!prev.up && prev.lastSeenMs === null)) this.add(view.url, 'seen', `answering as ${view.role}${view.epoch === undefined ? '' : `, epoch ${view.epoch}`}`);
    else if (!prev.up) this.add(view.url, 'up', `answering again as ${view.role}`);
    const was = prev?.up ? prev : undefined;

    if (view.history) this.nodeHistory(view, view.history, mem);
    else {
      this.goLiveSteps(view, was);
      if (view.role === 'secondary') this.secondary(view, was, mem);
      if (view.role === 'primary') this.primary(view, was, mem);
      if (view.role === 'diverged' && was?.role !== 'diverged') this.add(view.url, 'divergence', 'replay diverged from the log: this node stops and never goes live');
      if (view.role === 'fenced' && was?.role !== 'fenced') this.add(view.url, 'fenced', 'lost arbitration: serves nothing');
    }
    mem.view = view;
  }

  /** Takes in the node's own events not seen before (a restarted node's come later in time). */
  private nodeHistory(view: NodeView, history: NodeEvent[], mem: Memory): void {
    const fresh = history.filter((e) => e.atMs > mem.historyAtMs || (e.atMs === mem.historyAtMs && !mem.historyKeys.has(historyKey(e))));
    for (const e of fresh) {
      let [kind, text] = NODE_EVENTS[e.event] ?? (['other', e.event] as [TimelineKind, string]);
      if (kind === 'protected') {
        if (mem.wasProtected || view.promotedFromSecondary) [kind, text] = ['re-protected', 'protected again: a fresh secondary acknowledges'];
        mem.wasProtected = true;
      }
      this.add(view.url, kind, e.detail ? `${text} (${e.detail})` : text, e.atMs);
      if (e.atMs > mem.historyAtMs) {
        mem.historyAtMs = e.atMs;
        mem.historyKeys = new Set();
      }
      mem.historyKeys.add(historyKey(e));
    }
  }

  /** A promoted secondary reports when it detected the failure, won the claim and went live. */
  private goLiveSteps(view: NodeView, was: NodeView | undefined): void {
    const steps: Array<[string, TimelineKind, string]> = [
      ['failure-detected', 'failure-detected', 'failure of the primary detected'],
      ['claim-won', 'claim-won', `won the claim for epoch ${view.epoch ?? '?'}`],
      ['live', 'live', 'LIVE: serving as the new primary'],
    ];
    for (const [step, kind, text] of steps) {
      const at = view.timeline[step];
      if (at !== undefined && was?.timeline[step] !== at && !this.events.some((e) => e.url === view.url && e.kind === kind && e.atMs === at)) this.add(view.url, kind, text, at);
    }
  }

  private secondary(view: NodeView, was: NodeView | undefined, mem: Memory): void {
    if (view.peerConnected && !was?.peerConnected) this.add(view.url, 'attach', `attached to its primary (received up to #${view.lastSeq ?? 0} when first seen attached)`);
    if (!view.peerConnected && was?.peerConnected) this.add(view.url, 'detach', 'lost its connection to the primary');
    const behind = (view.lastSeq ?? 0) - (view.replayedSeq ?? 0);
    if (!mem.catchingUp && behind > CATCHING_UP_ENTRIES) {
      mem.catchingUp = true;
      this.add(view.url, 'catching-up', `catching up: ${behind} entries to replay`);
    } else if (mem.catchingUp && behind <= CATCHING_UP_ENTRIES / 4) {
      mem.catchingUp = false;
      this.add(view.url, 'caught-up', `caught up at entry #${view.replayedSeq}`);
    }
  }

  private primary(view: NodeView, was: NodeView | undefined, mem: Memory): void {
    const now = view.protection;
    const then = was?.role === 'primary' ? was.protection : undefined;
    if (now === then) return;
    switch (now) {
      case 'protected':
        this.add(view.url, mem.wasProtected || view.promotedFromSecondary ? 're-protected' : 'protected', mem.wasProtected || view.promotedFromSecondary ? 'protected again: a fresh secondary acknowledges' : 'protected: the secondary acknowledges the log');
        mem.wasProtected = true;
        return;
      case 'catching-up':
        this.add(view.url, 'catching-up', 'a secondary attached and is catching up');
        return;
      case 'arbitrating':
        this.add(view.url, 'arbitrating', 'secondary failed: holding outputs while claiming the next epoch');
        return;
      case 'unprotected':
        if (then === 'arbitrating') this.add(view.url, 'claim-won', `won the claim for epoch ${view.epoch}: going on alone, unprotected`);
        else if (then !== undefined || view.promotedFromSecondary) this.add(view.url, 'unprotected', 'unprotected: no secondary');
        return;
      default:
        return;
    }
  }
}
