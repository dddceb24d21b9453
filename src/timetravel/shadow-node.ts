// `lockstep secondary NEW_PROGRAM --primary ws://... --shadow`: follows a live primary's log under
// another program (a new version), comparing every answer it gives with the answer the primary
// released (the primary sends those to a shadow). It never counts as protection: it connects on
// /shadow (replication/shadow-feed.ts), its acks release nothing, it never claims an epoch on a
// failure. An answer divergence is counted and it follows on; an input divergence (the program asks
// for inputs differently: an extra clock read) stops its replay for good, with a clear status.
//
//   connecting -> following -> switching-over -> going-live -> live
//                    |   ^__________|  (abort)        '-> stopped (lost the claim, storage)
//                    '-> diverged-input (stops following; status stays up)      -> stopped (bye, refusal)
//
// A planned switchover (`lockstep switchover`, replication/switchover.ts) is the one way it goes live:
// it confirms the primary's last entry (ready R) and goes live on replaying the primary's stop at R+1.
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { ChannelClient } from '../channel/channel-client.js';
import { FAILURE_TIMEOUT_MS_DEFAULT, FRAME_BYTES_MAX_DEFAULT, HEARTBEAT_INTERVAL_MS_DEFAULT } from '../channel/channel-server.js';
import type { ReleasedAnswer, Switchover, Welcome } from '../channel/messages.js';
import { NONCE_BYTES } from '../channel/secret.js';
import { EntryQueue } from '../engine/entry-queue.js';
import { Executor, type ExecutorHooks, type ExecutorOptions } from '../engine/executor.js';
import { DivergenceError, LockstepError } from '../errors.js';
import { LiveHost } from '../host/live-host.js';
import { requestBytes } from '../http/incoming-request.js';
import { startServiceServer, type ServiceServer } from '../http/service-server.js';
import { decodeBatch } from '../log/codec.js';
import { describeEntry, type Entry } from '../log/entries.js';
import { claimEpochWithin, CLAIM_TIMEOUT_MS_DEFAULT } from '../replication/claim-deadline.js';
import { takeEpochData } from '../replication/epoch-data.js';
import { Lineage } from '../replication/lineage.js';
import { findLiveOwner } from '../replication/ownership.js';
import { FENCED_EXIT_CODE, nodeCheckpoints, preparePairNode, roleOptionsFrom, type PairOptions, type RunningNode } from '../replication/pair-node.js';
import { PrimaryRole } from '../replication/primary-role.js';
import type { NodeCheckpoints } from '../checkpoint/node-checkpoints.js';
import { RetainedLog, RETAINED_BYTES_MAX, RETAINED_ENTRIES_MAX } from '../replication/retained-log.js';
import { checkShadowCompatible, SHADOW_PATH } from '../replication/shadow-feed.js';
import { Timeline } from '../replication/timeline.js';
import { Coalesced } from '../replication/coalesced.js';
import { REPLAY_SLICE_MS, REPLAY_REPORT_ENTRIES } from '../replication/secondary-node.js';
import { answerOf } from './answers-file.js';
import { AnswerMatcher, divergenceJson, divergenceLine, type ShadowDivergence } from './shadow-compare.js';
import { orphanEvent, type RequestSummary } from './upgrade-check.js';
import { ShadowRefusedError } from './errors.js';
import { readStartingRecording, ShadowRecorder, ShadowRecordingError, type StartingRecording } from './shadow-recording.js';

export const SWITCHOVER_PATH = '/_lockstep/switchover';
/** How long a shadow whose primary went silent looks for the epoch's next owner, per try (it tries again at the next silence verdict). */
const OWNER_LOOKUP_MS = 1000;
/** How long `POST /_lockstep/switchover` waits for the handover to end (live or abandoned). */
export const SWITCHOVER_ANSWER_MS = 60_000;
/** Switchover nonces handed out and not yet used, at most (each is good for one request). */
const NONCES_MAX = 16;
/** A switchover request body, at most. */
const SWITCHOVER_BODY_BYTES_MAX = 4096;

export interface ShadowOptions extends PairOptions {
  /** ws://HOST:PORT of the primary's logging channel (the shadow connects to its /shadow). */
  primaryUrl: string;
  /** A recording of the pair's log to replay first (the primary may no longer keep its log from #1). */
  fromRecording?: string;
  /** Record the log followed and the answers the primary released here (FILE and FILE.answers). */
  record?: string;
  /** Where this node serves its own logging channel once live (after a switchover). */
  logListen: { host: string; port: number };
}

export type ShadowState = 'connecting' | 'following' | 'switching-over' | 'going-live' | 'live' | 'diverged-input' | 'stopped';

type Prepared = Awaited<ReturnType<typeof preparePairNode>>;
type SwitchoverWaiter = (status: number, body: Record<string, unknown>) => void;

export class ShadowNode {
  state: ShadowState = 'connecting';
  private readonly retained: RetainedLog;
  private readonly queue = new EntryQueue();
  private client: ChannelClient;
  /** The primary followed now: the one given, or the node that owns the epoch after it failed. */
  private primaryUrl: string;
  private lookingForPrimary = false;
  private silenceLogged = false;
  private readonly timeline: Timeline;
  private readonly matcher: AnswerMatcher;
  private executor: Executor | undefined;
  private booting: Promise<void> | undefined;
  private readonly replaySoon = new Coalesced(() => this.replaySlice(), setImmediate);
  private reportedReplayedSeq = 0;
  private service: ServiceServer | undefined;
  private host: LiveHost | undefined;
  private role: PrimaryRole | undefined;
  private epoch = 0;
  private lineage = Lineage.startingAt(0);
  /** The primary's last entry when this shadow first attached: what it follows is counted from there. */
  private attachSeq: number | undefined;
  private stoppedReason: string | undefined;
  /** The switchover under way: the entry it confirmed (ready), and the HTTP request waiting for the outcome. */
  private preparedSeq: number | undefined;
  private readySeq: number | undefined;
  private switchoverWaiter: SwitchoverWaiter | undefined;
  private switchoverTimer: NodeJS.Timeout | undefined;
  private readonly nonces: string[] = [];
  private recorder: ShadowRecorder | undefined;
  private readonly startedMs = Date.now();
  private finish!: (code: number) => void;
  readonly done = new Promise<number>((resolve) => (this.finish = resolve));

  constructor(
    private readonly options: ShadowOptions,
    private readonly prepared: Prepared,
    private readonly log: (line: string) => void,
    private readonly starting: StartingRecording | undefined,
  ) {
    this.retained = new RetainedLog(RETAINED_ENTRIES_MAX, options.retainedBytesMax ?? RETAINED_BYTES_MAX);
    this.timeline = new Timeline();
    this.matcher = new AnswerMatcher(
      (seq) => this.requestOf(seq),
      (d) => this.diverged(d),
    );
    this.primaryUrl = options.primaryUrl;
    this.client = this.newClient(this.primaryUrl);
    if (starting) this.startFrom(starting);
  }

  /** The recording's history is held and replayed first, and its answers compared, as if received. */
  private startFrom(starting: StartingRecording): void {
    try {
      checkShadowCompatible(this.prepared.header, starting.header);
    } catch (error) {
      throw new ShadowRecordingError(`${starting.path} cannot be replayed here: ${(error as Error).message}`);
    }
    starting.entries.forEach((entry, i) => this.retained.append(i + 1, entry));
    this.queue.push(1, starting.entries);
    const answers = starting.answers?.answers;
    for (const seq of answers?.seqs() ?? []) this.matcher.release(seq, answers!.get(seq)!);
    this.log(`starting from ${starting.path}: entries #1..#${starting.entries.length} and ${answers?.size ?? 0} recorded answers`);
  }

  private newClient(primaryUrl: string): ChannelClient {
    const { options, prepared } = this;
    return new ChannelClient({
      url: new URL(SHADOW_PATH, primaryUrl).href,
      secret: prepared.secret,
      header: prepared.header,
      compatible: checkShadowCompatible,
      proofRole: 'shadow',
      haveSeq: () => this.retained.lastSeq,
      replayedSeq: () => this.executor?.lastSeq ?? 0,
      heartbeatIntervalMs: options.heartbeatIntervalMs ?? HEARTBEAT_INTERVAL_MS_DEFAULT,
      failureTimeoutMs: options.failureTimeoutMs ?? FAILURE_TIMEOUT_MS_DEFAULT,
      frameBytesMax: options.frameBytesMax ?? FRAME_BYTES_MAX_DEFAULT,
      onConnected: (welcome) => this.welcomed(welcome),
      onBatch: (firstSeq, count, payload) => this.received(firstSeq, count, payload),
      onAnswers: (answers) => this.answersReleased(answers),
      onSwitchover: (message) => this.switchoverFrame(message),
      onBye: (reason) => this.stopWith(0, `the primary stopped on purpose (${reason}); a shadow never goes live on a stop, so it stops too`),
      onPeerSilent: () => void this.primarySilent(),
      onDisconnected: () => this.log('the logging connection closed; reconnecting'),
      onRefused: (code, message, final) => (final ? this.refused(code, message) : this.log(`refused by the primary: ${message} [${code}] (retrying)`)),
      onError: (error) => this.stopWith(error.exitCode, `logging channel failed: ${error.message} [${error.code}]`),
    });
  }

  /**
   * The primary is silent (failed?). A shadow never takes over; if another node owns the epoch now
   * (the secondary went live), it follows that node, whose log continues the one it replayed
   * (checked at the welcome: a log that forked before what it replayed stops it).
   */
  private async primarySilent(): Promise<void> {
    // Once it confirmed (ready), only the primary decides: its stop may still come, from it or from the log.
    if (this.state === 'switching-over' && this.readySeq === undefined) this.abortSwitchover('the primary went silent');
    if (this.lookingForPrimary || (this.state !== 'following' && this.state !== 'connecting')) return;
    this.lookingForPrimary = true;
    try {
      const owner = await findLiveOwner(this.prepared.arbiter, OWNER_LOOKUP_MS).catch(() => undefined);
      if ((this.state !== 'following' && this.state !== 'connecting') || !owner || owner.primaryUrl === this.primaryUrl) {
        if (!this.silenceLogged) this.log(`the primary at ${this.primaryUrl} is silent (failed?); a shadow never takes over: it keeps trying it, and follows whichever node owns the epoch next`);
        this.silenceLogged = true;
        return;
      }
      this.log(`the primary at ${this.primaryUrl} is silent; epoch ${owner.epoch} is owned by the node at ${owner.primaryUrl}: following it`);
      this.timeline.add('follow-new-primary', `${owner.primaryUrl}, epoch ${owner.epoch}`);
      this.client.fence();
      this.primaryUrl = owner.primaryUrl;
      this.client = this.newClient(owner.primaryUrl);
      this.client.start();
    } finally {
      this.lookingForPrimary = false;
    }
  }

  async start(): Promise<void> {
    const { options } = this;
    this.service = await startServiceServer(
      { host: options.host ?? '127.0.0.1', port: options.port, bodyBytesMax: options.bodyBytesMax },
      {
        role: () => (this.state === 'live' ? 'primary' : 'secondary'),
        handle: async (request, abandoned) => {
          if (!this.role || !this.host) throw new Error('a shadow serves requests only once live');
          const wait = this.role.admission(requestBytes(request));
          if (wait) await wait;
          return this.host.handleRequest(request, abandoned);
        },
        status: () => this.status(),
        epoch: () => (this.state === 'live' && this.role ? this.role.epoch : this.epoch),
        control: (req, res) => this.control(req, res),
      },
    );
    this.client.start();
    this.log(`shadow of ${this.primaryUrl} running ${this.prepared.program.name} on http://${options.host ?? '127.0.0.1'}:${this.service.port}: comparing its answers with the primary's (never protection)`);
  }

  get port(): number {
    return this.service?.port ?? 0;
  }

  // ---- following ----------------------------------------------------------------------------

  private welcomed(welcome: Welcome): void {
    if (this.starting && welcome.header.programHash !== this.starting.header.programHash) {
      const error = new ShadowRecordingError(`${this.starting.path} was recorded with ${this.starting.header.programName}, but the primary runs ${welcome.header.programName} (another program): it is not this pair's history.`);
      return this.stopWith(error.exitCode, `${error.message} [${error.code}]`);
    }
    // A reconnect to a primary whose log left ours (another run on that address, or a later epoch that
    // forked before what we replayed): continuing would splice two histories.
    if (this.attachSeq !== undefined && !Lineage.of(welcome.forks).continues(this.epoch, this.retained.lastSeq, welcome.epoch)) {
      return this.stopWith(1, `the primary at ${this.primaryUrl} (epoch ${welcome.epoch}) does not continue the log this shadow replayed (epoch ${this.epoch}, up to #${this.retained.lastSeq}); a shadow cannot follow it. Start a new shadow.`);
    }
    if (this.options.record && !this.recorder) {
      this.recorder = new ShadowRecorder(this.options.record, welcome.header, this.retained.lastSeq, (seq) => this.retained.get(seq), this.log);
      const recorded = this.starting?.answers?.answers;
      for (const seq of recorded?.seqs() ?? []) this.recorder.answer(seq, recorded!.get(seq)!);
    }
    this.epoch = welcome.epoch;
    this.lineage = Lineage.of(welcome.forks);
    this.attachSeq ??= welcome.lastSeq;
    this.silenceLogged = false;
    if (this.state === 'connecting') this.state = 'following';
    this.log(`following ${this.primaryUrl} (epoch ${welcome.epoch}) from entry #${welcome.startSeq}; the primary is at #${welcome.lastSeq}`);
    this.timeline.add('following', `epoch ${welcome.epoch}`);
  }

  private refused(code: string, message: string): void {
    const error = new ShadowRefusedError(code, message);
    this.stopWith(error.exitCode, `${error.message} [${error.code}]`);
  }

  private received(firstSeq: number, count: number, payload: Uint8Array): void {
    const batch = decodeBatch(payload);
    for (let i = 0; i < count; i++) this.retained.append(firstSeq + i, batch.entries[i]!);
    this.queue.push(firstSeq, batch.entries);
    this.recorder?.entries(batch.entries);
    this.replaySoon.request();
  }

  private answersReleased(answers: ReleasedAnswer[]): void {
    for (const { seq, ...answer } of answers) {
      this.matcher.release(seq, answer);
      this.recorder?.answer(seq, answer);
    }
  }

  private requestOf(seq: number): RequestSummary | undefined {
    if (seq < this.retained.retainedFrom || seq > this.retained.lastSeq) return undefined;
    const entry = this.retained.get(seq);
    return entry.kind === 'request' ? { seq, method: entry.method, path: entry.path } : undefined;
  }

  private diverged(d: ShadowDivergence): void {
    const line = divergenceLine(d);
    this.log(`DIVERGENCE ${this.matcher.divergences}: ${line}`);
    this.timeline.add('shadow-divergence', line);
  }

  private executorOptions(): ExecutorOptions {
    const { program, limits } = this.prepared;
    // The log's check and checkpoint entries are the old program's digests: not compared.
    return { source: program.source, programName: program.name, limits, hooks: this.hooks(), controlEntries: 'skip' };
  }

  /** Until live, answers go to the comparison and nothing leaves; once live, outputs go to the host. */
  private hooks(): ExecutorHooks {
    return {
      onEntry: (seq, entry) => this.role!.onEntry(seq, entry),
      onOutput: (output) => {
        if (this.state === 'live') return this.host!.hooks().onOutput(output);
        if (output.effect.type === 'respond') this.matcher.produce(output.effect.requestId, answerOf(output.effect));
      },
      actions: {
        armTimer: (timerId, dueMs) => this.host!.armTimer(timerId, dueMs),
        clearTimer: (timerId) => this.host!.clearTimer(timerId),
        startRead: (opId, path) => this.host!.startRead(opId, path),
      },
    };
  }

  private replaySlice(): void {
    if (this.state !== 'following' && this.state !== 'switching-over') return;
    if (!this.executor) return this.boot();
    const sliceEndMs = performance.now() + REPLAY_SLICE_MS;
    if (!this.replay(() => performance.now() < sliceEndMs)) return;
    const replayed = this.executor.lastSeq;
    if (replayed - this.reportedReplayedSeq >= REPLAY_REPORT_ENTRIES || this.queue.pending === 0) {
      this.reportedReplayedSeq = replayed;
      this.client.reportReplayed();
    }
    this.confirmIfPrepared();
    if (this.queue.pending > 0) this.replaySoon.request();
  }

  private boot(): void {
    if (this.booting || this.queue.pending === 0) return;
    this.booting = Executor.bootReplay(this.executorOptions(), this.queue).then(
      (executor) => {
        this.executor = executor;
        this.replaySoon.request();
      },
      (error) => this.replayFailed(error),
    );
  }

  /** Replays while `more()` and entries remain; false once the replay stopped (an input divergence) or the node went live. */
  private replay(more: () => boolean): boolean {
    const executor = this.executor!;
    const held = (seq: number) => seq >= this.retained.retainedFrom && seq <= this.retained.lastSeq;
    const next = { peek: (): Entry | undefined => (held(executor.lastSeq + 1) ? this.retained.get(executor.lastSeq + 1) : undefined), nextSeq: () => executor.lastSeq + 1 };
    try {
      for (;;) {
        const orphan = orphanEvent(executor, next, (seq) => this.requestOf(seq));
        if (orphan) {
          this.inputDiverged(orphan);
          return false;
        }
        if (!more()) return true;
        const entry = executor.replayNext();
        if (!entry) return true;
        if (entry.kind === 'stop') {
          if (this.readySeq !== undefined && executor.lastSeq === this.readySeq + 1) {
            void this.goLive();
            return false;
          }
          this.log(`the primary logged a planned stop at #${executor.lastSeq} (${entry.reason})`);
        }
      }
    } catch (error) {
      this.replayFailed(error);
      return false;
    }
  }

  private replayFailed(error: unknown): void {
    if (error instanceof DivergenceError) {
      const event = this.lastEventBefore(error.seq);
      return this.inputDiverged({ kind: 'input', seq: error.seq, request: event && this.requestOf(event.seq), event: event && `#${event.seq} ${describeEntry(event.entry)}`, logHolds: error.logHolds, programAsked: error.guestAsked });
    }
    if (error instanceof LockstepError) return this.stopWith(error.exitCode, `cannot replay: ${error.message} [${error.code}]`);
    throw error;
  }

  /** The event entry an entry belongs to (its values follow it). */
  private lastEventBefore(seq: number): { seq: number; entry: Entry } | undefined {
    for (let s = Math.min(seq, this.retained.lastSeq); s >= this.retained.retainedFrom && s > seq - 10_000; s--) {
      const entry = this.retained.get(s);
      if (entry.kind !== 'now' && entry.kind !== 'random' && entry.kind !== 'check' && entry.kind !== 'checkpoint') return { seq: s, entry };
    }
    return undefined;
  }

  /** The program asks for inputs differently: it cannot replay past this. It stops following and says why, and keeps answering status. */
  private inputDiverged(difference: Parameters<AnswerMatcher['input']>[0]): void {
    this.matcher.input(difference);
    this.state = 'diverged-input';
    this.stoppedReason = `input divergence at entry #${difference.seq}: a shadow cannot replay past a consumption mismatch, so it stopped following (its status stays up)`;
    this.log(`stopped following: ${this.stoppedReason}`);
    this.endSwitchover(409, { ok: false, code: 'LOCKSTEP_SWITCHOVER_DIVERGED', message: `the shadow diverged: ${divergenceLine(this.matcher.last!)}` });
    void this.client.stop('the shadow diverged (input consumption) and stopped following');
  }

  // ---- switchover ---------------------------------------------------------------------------

  /** The HTTP side: a nonce (GET), then the request (POST), proved with the pair's secret. */
  private control(req: IncomingMessage, res: ServerResponse): boolean {
    if (new URL(req.url ?? '/', 'http://x').pathname !== SWITCHOVER_PATH) return false;
    const reply = (status: number, body: Record<string, unknown>) => {
      res.writeHead(status, { 'content-type': 'application/json', 'x-lockstep-role': this.state === 'live' ? 'primary' : 'secondary' });
      res.end(JSON.stringify(body));
    };
    if (req.method === 'GET') {
      const nonce = randomBytes(NONCE_BYTES).toString('hex');
      this.nonces.push(nonce);
      if (this.nonces.length > NONCES_MAX) this.nonces.shift();
      reply(200, { nonce });
      return true;
    }
    if (req.method !== 'POST') {
      reply(405, { ok: false, code: 'LOCKSTEP_SWITCHOVER_METHOD', message: 'GET a nonce, then POST the request' });
      return true;
    }
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      text += chunk;
      if (text.length > SWITCHOVER_BODY_BYTES_MAX) req.destroy();
    });
    req.on('end', () => this.switchoverRequested(text, reply));
    return true;
  }

  private switchoverRequested(text: string, reply: SwitchoverWaiter): void {
    let body: { afterEntries?: unknown; nonce?: unknown; clientNonce?: unknown; proof?: unknown };
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      return reply(400, { ok: false, code: 'LOCKSTEP_SWITCHOVER_BAD_REQUEST', message: 'the body is not JSON' });
    }
    const used = typeof body.nonce === 'string' ? this.nonces.indexOf(body.nonce) : -1;
    const hex = (v: unknown) => (typeof v === 'string' && /^[0-9a-f]+$/.test(v) ? Buffer.from(v, 'hex') : Buffer.alloc(0));
    const proved = used >= 0 && hex(body.clientNonce).length === NONCE_BYTES && this.prepared.secret.verify(hex(body.proof), hex(body.nonce), hex(body.clientNonce), 'switchover');
    if (used >= 0) this.nonces.splice(used, 1);
    if (!proved) return reply(403, { ok: false, code: 'LOCKSTEP_SWITCHOVER_AUTH', message: "the request is not proved with the pair's channel secret (give `lockstep switchover` the pair's --dir, or its --secret-file)" });
    const afterEntries = typeof body.afterEntries === 'number' && Number.isSafeInteger(body.afterEntries) && body.afterEntries >= 0 ? body.afterEntries : undefined;
    if (afterEntries === undefined) return reply(400, { ok: false, code: 'LOCKSTEP_SWITCHOVER_BAD_REQUEST', message: 'afterEntries is not a whole number' });
    const refusal = this.switchoverRefusal(afterEntries);
    if (refusal) return reply(409, { ok: false, ...refusal });
    if (!this.client.sendSwitchover({ type: 'switchover', phase: 'request', seq: this.executor?.lastSeq ?? 0, reason: '' })) {
      return reply(409, { ok: false, code: 'LOCKSTEP_SWITCHOVER_NOT_FOLLOWING', message: 'the shadow is not connected to its primary right now' });
    }
    this.state = 'switching-over';
    this.switchoverWaiter = reply;
    this.switchoverTimer = setTimeout(() => {
      if (this.readySeq === undefined) return this.abortSwitchover(`no outcome within ${SWITCHOVER_ANSWER_MS} ms`);
      this.endSwitchover(409, { ok: false, code: 'LOCKSTEP_SWITCHOVER_NO_OUTCOME', message: `the shadow confirmed #${this.readySeq}, and the primary has not logged its stop within ${SWITCHOVER_ANSWER_MS} ms; see the status of both` });
    }, SWITCHOVER_ANSWER_MS);
    this.timeline.add('switchover-requested', `after ${this.followedEntries} entries followed`);
    this.log(`switchover requested (followed ${this.followedEntries} entries, ${this.matcher.divergences} divergences): asking the primary to hand over`);
  }

  /** Why this shadow may not take over now (the same checks `lockstep switchover` makes first). */
  private switchoverRefusal(afterEntries: number): { code: string; message: string } | undefined {
    // On its own --dir (two hosts) a shadow holds no copy of the guest's files to go live with.
    if (this.prepared.replicaFiles) return { code: 'LOCKSTEP_SWITCHOVER_OWN_DIR', message: 'a shadow on its own --dir (the etcd arbiter) keeps no replica of the guest\'s files, so it cannot take over yet; switchover needs the pair\'s shared --dir (the file arbiter)' };
    if (this.matcher.divergences > 0) return { code: 'LOCKSTEP_SWITCHOVER_DIVERGED', message: `the shadow has seen ${this.matcher.divergences} divergences (the first: ${divergenceLine(this.matcher.first!)})` };
    if (this.state !== 'following' || this.client.state !== 'connected') return { code: 'LOCKSTEP_SWITCHOVER_NOT_FOLLOWING', message: `the shadow is ${this.state}${this.stoppedReason ? ` (${this.stoppedReason})` : ''}, not following its primary` };
    if (this.followedEntries < afterEntries) return { code: 'LOCKSTEP_SWITCHOVER_TOO_EARLY', message: `the shadow has followed ${this.followedEntries} entries, fewer than the ${afterEntries} asked for` };
    return undefined;
  }

  private get followedEntries(): number {
    return this.attachSeq === undefined || !this.executor ? 0 : Math.max(0, this.executor.lastSeq - this.attachSeq);
  }

  private switchoverFrame(message: Switchover): void {
    if (message.phase === 'abort') return this.abortSwitchover(`the primary abandoned it: ${message.reason}`);
    if (message.phase !== 'prepared' || this.state !== 'switching-over') return;
    this.preparedSeq = message.seq;
    this.confirmIfPrepared();
  }

  /** Once replayed up to the primary's prepared entry, with every answer released so far compared: ready, or abort. */
  private confirmIfPrepared(): void {
    const prepared = this.preparedSeq;
    if (this.state !== 'switching-over' || prepared === undefined || (this.executor?.lastSeq ?? 0) < prepared) return;
    this.preparedSeq = undefined;
    if (this.matcher.divergences > 0) {
      this.client.sendSwitchover({ type: 'switchover', phase: 'abort', seq: prepared, reason: `the shadow diverged: ${divergenceLine(this.matcher.last!)}` });
      return this.abortSwitchover(`the shadow diverged before the handover: ${divergenceLine(this.matcher.last!)}`);
    }
    this.readySeq = prepared;
    this.client.sendSwitchover({ type: 'switchover', phase: 'ready', seq: prepared, reason: '' });
  }

  private abortSwitchover(reason: string): void {
    if (this.state !== 'switching-over') return;
    this.state = 'following';
    this.readySeq = undefined;
    this.preparedSeq = undefined;
    this.log(`switchover abandoned: ${reason}; following on`);
    this.timeline.add('switchover-abandoned', reason);
    this.endSwitchover(409, { ok: false, code: 'LOCKSTEP_SWITCHOVER_ABANDONED', message: reason });
    this.replaySoon.request();
  }

  private endSwitchover(status: number, body: Record<string, unknown>): void {
    clearTimeout(this.switchoverTimer);
    const waiter = this.switchoverWaiter;
    this.switchoverWaiter = undefined;
    waiter?.(status, body);
  }

  /** The primary's stop right after our ready: replay is complete; claim the next epoch, switch to live, serve. */
  private async goLive(): Promise<void> {
    const executor = this.executor!;
    this.state = 'going-live';
    this.client.fence();
    const stopSeq = executor.lastSeq;
    this.timeline.add('switchover-stop', `#${stopSeq}`);
    const next = this.epoch + 1;
    try {
      const result = await claimEpochWithin(this.prepared.arbiter, this.options.claimTimeoutMs ?? CLAIM_TIMEOUT_MS_DEFAULT, next, `shadow pid ${process.pid}`);
      if (result === 'lost') {
        this.endSwitchover(409, { ok: false, code: 'LOCKSTEP_SWITCHOVER_CLAIM_LOST', message: `another node claimed epoch ${next} first` });
        return this.stopWith(FENCED_EXIT_CODE, `lost the claim for epoch ${next} after the primary's stop at #${stopSeq}: another node owns it. This shadow stops.`);
      }
      this.epoch = next;
      this.timeline.add('claim-won', `epoch ${next}`);
      const dataDir = await takeEpochData(this.options.dir, next);
      this.host = LiveHost.forExecutor({ dir: this.options.dir, dataDir, onConsole: this.options.onConsole }, executor);
      const checkpoints = nodeCheckpoints(this.options, this.prepared, () => this.retained, this.log);
      // The log so far holds the old program's digests, which a secondary of the new program cannot verify:
      // a fresh one starts from this checkpoint of the new program's state instead.
      checkpoints.afterReplayedCheckpoint(executor);
      this.role = this.newRole(executor, this.host, checkpoints);
      void this.closeRecording();
    } catch (error) {
      const why = error instanceof LockstepError ? `${error.message} [${error.code}]` : String(error);
      this.endSwitchover(409, { ok: false, code: 'LOCKSTEP_SWITCHOVER_CLAIM_FAILED', message: why });
      return this.stopWith(error instanceof LockstepError ? error.exitCode : 1, `cannot go live: ${why}`);
    }
    this.state = 'live';
    const { writes } = executor.goLive();
    for (const [opId, write] of writes) this.host.performWrite(opId, write.path, write.data);
    this.timeline.add('live', `epoch ${next}`);
    let logListen: string | null = null;
    try {
      await this.role.listen();
      logListen = this.role.logListen;
    } catch (error) {
      this.log(`serving unprotected: its logging channel cannot listen (${error instanceof Error ? error.message : error})`);
    }
    this.log(`LIVE as primary of epoch ${next} running ${this.prepared.program.name} after replaying ${stopSeq} entries (switchover); logging channel ${logListen ?? 'not listening'}`);
    this.endSwitchover(200, { ok: true, epoch: next, stopSeq, followedEntries: this.followedEntries, answersCompared: this.matcher.compared, program: this.prepared.program.name, logListen });
  }

  private newRole(executor: Executor, host: LiveHost, checkpoints: NodeCheckpoints): PrimaryRole {
    const { options, prepared } = this;
    return new PrimaryRole(
      {
        ...roleOptionsFrom(options, prepared),
        epoch: this.epoch,
        lineage: this.lineage.extend(this.epoch, executor.lastSeq),
        checkpoints,
        outputGate: true,
        timeline: this.timeline,
        onFenced: (why, exitCode) => this.stopWith(exitCode ?? FENCED_EXIT_CODE, `FENCED: ${why}. This node stops now and releases nothing more.`),
        log: this.log,
      },
      executor,
      host,
      this.retained,
    );
  }

  // ---- stopping and status --------------------------------------------------------------------

  private stopWith(code: number, message: string): void {
    if (this.state === 'stopped') return;
    this.log(message);
    this.stoppedReason ??= message;
    this.state = 'stopped';
    this.endSwitchover(409, { ok: false, code: 'LOCKSTEP_SWITCHOVER_ABANDONED', message });
    this.host?.stop();
    void Promise.allSettled([this.client.stop(), this.service?.close(), this.role?.server.close(), this.closeRecording()]).then(() => {
      this.executor?.dispose();
      this.executor = undefined;
      this.finish(code);
    });
  }

  private async closeRecording(): Promise<void> {
    const recorder = this.recorder;
    this.recorder = undefined;
    await recorder?.close(this.retained.lastSeq).catch((error: unknown) => this.log(`closing the recording ${recorder.path} failed: ${error instanceof Error ? error.message : error}`));
  }

  async stop(reason: string): Promise<void> {
    if (this.state === 'live' && this.role) {
      await this.service?.close();
      await this.role.stop(reason);
      this.host?.stop();
      this.state = 'stopped';
      return this.finish(0);
    }
    this.stopWith(0, `stopping: ${reason}`);
    await this.done;
  }

  status(): Record<string, unknown> {
    const comparison = {
      shadowOf: this.primaryUrl,
      followedEntries: this.followedEntries,
      answersCompared: this.matcher.compared,
      answersUnchecked: this.matcher.unchecked,
      answersWaiting: this.matcher.waiting,
      divergences: this.matcher.divergences,
      firstDivergence: divergenceJson(this.matcher.first),
      lastDivergence: divergenceJson(this.matcher.last),
    };
    const base = { program: this.prepared.program.name, uptimeMs: Date.now() - this.startedMs, state: this.state, timeline: this.timeline.firstTimes(), history: this.timeline.events() };
    if (this.state === 'live' && this.role) return { role: 'primary', promotedFromShadow: true, events: this.executor?.eventsDelivered ?? 0, ...this.role.status(), ...comparison, ...base };
    const stats = this.client.stats;
    return {
      role: 'shadow',
      ...base,
      ...comparison,
      canGoOn: this.state !== 'diverged-input' && this.state !== 'stopped',
      stoppedReason: this.stoppedReason ?? null,
      epoch: this.epoch,
      primary: this.primaryUrl,
      connected: this.client.state === 'connected',
      attachSeq: this.attachSeq ?? null,
      receivedSeq: this.retained.lastSeq,
      ackedSeq: stats.lastAckSeq,
      replayedSeq: this.executor?.lastSeq ?? 0,
      lagEntries: this.retained.lastSeq - (this.executor?.lastSeq ?? 0),
      heartbeatRttMs: stats.rttMs,
      logBytesReceived: stats.bytesReceived,
      events: this.executor?.eventsDelivered ?? 0,
    };
  }
}

export async function startShadow(options: ShadowOptions): Promise<RunningNode> {
  const log = options.log ?? ((line: string) => process.stderr.write(`[shadow] ${line}\n`));
  const starting = options.fromRecording === undefined ? undefined : await readStartingRecording(options.fromRecording);
  const node = new ShadowNode(options, await preparePairNode(options), log, starting);
  await node.start();
  return { port: node.port, done: node.done, status: () => node.status(), stop: (reason) => node.stop(reason) };
}
