// A planned handover of the primary role to its shadow (`lockstep switchover`), on the primary's
// side. The round trips, over the shadow's channel:
//
//   shadow  -> request  (it has followed K entries with no divergence)
//   primary:   stops admitting requests (503: clients retry elsewhere with their Idempotency-Key),
//              lets what is in flight be answered and acknowledged (bounded), then
//   primary -> prepared R  (R = its last entry; nothing more will be admitted)
//   shadow:    replays to R and compares every answer released so far
//   shadow  -> ready R | abort
//   primary:   if nothing was logged since R (a timer may have fired: then prepared again), logs a
//              planned `stop` at R+1 in the same turn; this is the commit. Before it, an abort (or
//              the shadow leaving) resumes admitting, with nothing changed.
//   shadow:    replays the stop at R+1 after its own ready R: claims the next epoch and goes live
//   primary:   once the shadow (and the secondary) hold the stop, says bye to the secondary and exits.
//
// The stop makes the old secondary stand down (it never goes live after a planned stop); if the
// primary dies before its bye, that secondary and the shadow both claim the next epoch and the
// arbiter lets exactly one of them go live.
import { LockstepError } from '../errors.js';
import type { Switchover } from '../channel/messages.js';

/** Longest wait for in-flight requests to be answered and acknowledged before preparing anyway. */
export const SWITCHOVER_DRAIN_MS = 5000;
/** Longest wait for the shadow's ready (it replays up to R first). */
export const SWITCHOVER_READY_MS = 15_000;
/** Prepared rounds at most (each lost to a timer or disk completion logged meanwhile). */
export const SWITCHOVER_PREPARE_ROUNDS_MAX = 50;
/** Longest wait, after the stop, for the shadow and the secondary to hold it. */
export const SWITCHOVER_HANDOFF_MS = 30_000;
const POLL_MS = 5;

/** A request that reached the primary during a switchover: it is not admitted (503); the client retries at the new primary. */
export class SwitchingOverError extends LockstepError {
  readonly code = 'LOCKSTEP_SWITCHING_OVER';
  constructor() {
    super('this primary is handing its role over to another node (a planned switchover): retry with the same Idempotency-Key at the other node');
  }
}

export type HandoverState = 'idle' | 'draining' | 'prepared' | 'committed' | 'done';

/** What the handover needs of the primary (PrimaryRole gives it). */
export interface HandoverPrimary {
  /** The last entry logged. */
  lastSeq(): number;
  /** Nothing is waiting: no client waits for an answer, no output waits for an ack. */
  quiet(): boolean;
  /** May a switchover start now (a serving, unfenced primary that is not arbitrating)? Why not, otherwise. */
  refusal(): string | undefined;
  /** Logs the planned stop (synchronously), after which nothing more is logged or released, and ships it; returns its seq. */
  logStop(reason: string): number;
  /** Highest entry the shadow holds; the secondary's (null when there is none). */
  shadowAcked(): number;
  secondaryAcked(): number | null;
  send(message: Switchover): boolean;
  /** The handover is complete: say bye to the secondary, stop serving, end this node (exit 0). */
  finish(reason: string): Promise<void>;
  log(line: string): void;
  timeline(event: string, detail?: string): void;
}

export class Handover {
  state: HandoverState = 'idle';
  private preparedSeq = 0;
  private rounds = 0;
  private timer: NodeJS.Timeout | undefined;
  private peer = '';

  constructor(private readonly primary: HandoverPrimary) {}

  /** Requests are refused (503) from the first request of a switchover until it is abandoned. */
  get refusingRequests(): boolean {
    return this.state !== 'idle';
  }

  onMessage(message: Switchover, peer: string): void {
    switch (message.phase) {
      case 'request':
        return this.begin(message.seq, peer);
      case 'ready':
        return this.ready(message.seq);
      case 'abort':
        return this.abandon(`the shadow aborted: ${message.reason}`);
      case 'prepared':
        return this.abandon('the shadow sent a prepared frame, which only a primary sends');
      default: {
        const never: never = message.phase;
        throw new Error(`unknown switchover phase ${String(never)}`);
      }
    }
  }

  /** The shadow left: before the commit the switchover is abandoned; after it, the handoff waits (bounded) for it to come back. */
  shadowGone(reason: string): void {
    if (this.state === 'draining' || this.state === 'prepared') this.abandon(`the shadow left (${reason})`);
  }

  private begin(shadowReplayedSeq: number, peer: string): void {
    const refusal = this.state !== 'idle' ? `a switchover is already ${this.state}` : this.primary.refusal();
    if (refusal) {
      this.primary.send({ type: 'switchover', phase: 'abort', seq: 0, reason: refusal });
      return;
    }
    this.peer = peer;
    this.state = 'draining';
    this.rounds = 0;
    this.primary.log(`switchover to the shadow ${peer} (it replayed #${shadowReplayedSeq}): no longer admitting requests; letting those in flight be answered`);
    this.primary.timeline('switchover-begin', `to shadow ${peer}`);
    const deadline = Date.now() + SWITCHOVER_DRAIN_MS;
    const drain = () => {
      if (this.state !== 'draining') return;
      if (!this.primary.quiet() && Date.now() < deadline) {
        this.timer = setTimeout(drain, POLL_MS);
        return;
      }
      if (!this.primary.quiet()) this.primary.log(`switchover: answers still waiting after ${SWITCHOVER_DRAIN_MS} ms; their clients will get them from the new primary (same Idempotency-Key)`);
      this.prepare();
    };
    drain();
  }

  private prepare(): void {
    if (++this.rounds > SWITCHOVER_PREPARE_ROUNDS_MAX) return this.abandon(`the log kept growing (timers, disk completions) through ${SWITCHOVER_PREPARE_ROUNDS_MAX} prepare rounds`);
    this.state = 'prepared';
    this.preparedSeq = this.primary.lastSeq();
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.abandon(`the shadow did not confirm #${this.preparedSeq} within ${SWITCHOVER_READY_MS} ms`), SWITCHOVER_READY_MS);
    if (!this.primary.send({ type: 'switchover', phase: 'prepared', seq: this.preparedSeq, reason: '' })) this.abandon('the shadow is not connected');
  }

  private ready(seq: number): void {
    if (this.state !== 'prepared' || seq !== this.preparedSeq) return; // a late answer to an earlier round
    if (this.primary.lastSeq() !== seq) return this.prepare();
    // The commit: the stop is logged in the turn that saw nothing logged since the shadow's ready.
    clearTimeout(this.timer);
    this.state = 'committed';
    const stopSeq = this.primary.logStop(`switchover to the shadow at ${this.peer}`);
    this.primary.log(`switchover: the shadow replayed #${seq} with no divergence; planned stop logged at #${stopSeq}; handing over`);
    this.primary.timeline('switchover-stop', `#${stopSeq}`);
    const deadline = Date.now() + SWITCHOVER_HANDOFF_MS;
    const handoff = () => {
      const secondary = this.primary.secondaryAcked();
      const held = this.primary.shadowAcked() >= stopSeq && (secondary === null || secondary >= stopSeq);
      if (!held && Date.now() < deadline) {
        this.timer = setTimeout(handoff, POLL_MS);
        return;
      }
      if (!held) this.primary.log(`switchover: the stop at #${stopSeq} was not acknowledged by every follower within ${SWITCHOVER_HANDOFF_MS} ms; stopping anyway`);
      this.state = 'done';
      void this.primary.finish(`handed over to the shadow at ${this.peer} after the planned stop at #${stopSeq}`);
    };
    handoff();
  }

  private abandon(reason: string): void {
    if (this.state !== 'draining' && this.state !== 'prepared') return;
    clearTimeout(this.timer);
    this.state = 'idle';
    this.primary.send({ type: 'switchover', phase: 'abort', seq: 0, reason });
    this.primary.log(`switchover abandoned: ${reason}; admitting requests again (nothing was handed over)`);
    this.primary.timeline('switchover-abandoned', reason);
  }

  dispose(): void {
    clearTimeout(this.timer);
  }
}
