// `lockstep secondary`: follows a primary over the logging channel, replaying every entry as it
// arrives (acks go out on receipt) with its outputs suppressed. When the primary fails it wins the
// claim for the next epoch and goes live where the primary stopped: the explicit switch from the
// replay doorway to the live one. Until then it answers HTTP with 503.
import { performance } from 'node:perf_hooks';
import { ChannelClient } from '../channel/channel-client.js';
import { FAILURE_TIMEOUT_MS_DEFAULT, FRAME_BYTES_MAX_DEFAULT, HEARTBEAT_INTERVAL_MS_DEFAULT } from '../channel/channel-server.js';
import { EntryQueue } from '../engine/entry-queue.js';
import { Executor, type ExecutorHooks, type Output } from '../engine/executor.js';
import { DivergenceError, LockstepError } from '../errors.js';
import { LiveHost } from '../host/live-host.js';
import { startServiceServer, type ServiceServer } from '../http/service-server.js';
import { checkHeaderCompatible, decodeBatch } from '../log/codec.js';
import { claimEpoch } from './arbitration.js';
import { SharedStorageError } from './errors.js';
import { FENCED_EXIT_CODE, preparePairNode, type PairOptions, type RunningNode } from './primary-node.js';
import { PrimaryRole } from './primary-role.js';
import { RetainedLog } from './retained-log.js';
import { assert } from '../assert.js';

export interface SecondaryOptions extends PairOptions {
  primaryUrl: string;
  /** Where this node serves its own logging channel once live, for a fresh secondary. */
  logListen: { host: string; port: number };
  /** Where the go-live timeline is reported (for the demo). */
  onTimeline?: (event: TimelineEvent, atMs: number) => void;
}

export type TimelineEvent = 'failure-detected' | 'claim-won' | 'live';
export type SecondaryState = 'following' | 'going-live' | 'live' | 'fenced' | 'diverged' | 'stopped';

/** Console lines whose release the primary had not confirmed are re-released at go-live; bounded. */
export const UNCERTAIN_OUTPUTS_MAX = 100_000;

/** Longest stretch of replay without yielding to the event loop (heartbeats, acks, status). */
export const REPLAY_SLICE_MS = 20;

export async function startSecondary(options: SecondaryOptions): Promise<RunningNode> {
  const log = options.log ?? ((line: string) => process.stderr.write(`[secondary] ${line}\n`));
  const { program, limits, secret, header } = await preparePairNode(options);
  const heartbeatIntervalMs = options.heartbeatIntervalMs ?? HEARTBEAT_INTERVAL_MS_DEFAULT;
  const failureTimeoutMs = options.failureTimeoutMs ?? FAILURE_TIMEOUT_MS_DEFAULT;

  const retained = new RetainedLog();
  const queue = new EntryQueue();
  const host = new LiveHost({ dir: options.dir, onConsole: options.onConsole });
  const hostHooks = host.hooks();
  let state: SecondaryState = 'following';
  let executor: Executor | undefined;
  let booting: Promise<void> | undefined;
  let role: PrimaryRole | undefined;
  let epoch = 0;
  let connectedOnce = false;
  let releasedSeq = 0;
  let uncertain: Output[] = [];
  let uncertainDropped = 0;
  const timeline: Partial<Record<TimelineEvent, number>> = {};
  let finish!: (code: number) => void;
  const done = new Promise<number>((resolve) => (finish = resolve));

  const mark = (event: TimelineEvent) => {
    timeline[event] = Date.now();
    options.onTimeline?.(event, timeline[event]!);
  };

  const hooks: ExecutorHooks = {
    onEntry: (seq, entry) => {
      // Only once live: the new primary logs its own entries, numbered on from the replayed ones.
      assert(role, 'a secondary logs entries only once live');
      role.onEntry(seq, entry);
    },
    onOutput: (output) => {
      if (state === 'live') return hostHooks.onOutput(output);
      // Replay: suppressed. Console lines the primary may not have released are kept for go-live;
      // answers live on in the idempotency store, and writes in the executor's pending writes.
      if (output.effect.type !== 'console' || output.gateSeq <= releasedSeq) return;
      uncertain.push(output);
      if (uncertain.length > UNCERTAIN_OUTPUTS_MAX) {
        uncertain.shift();
        uncertainDropped++;
      }
    },
    actions: host,
  };

  const stopWith = (code: number, message: string) => {
    if (state === 'stopped') return;
    log(message);
    state = code === FENCED_EXIT_CODE ? 'fenced' : state === 'diverged' ? 'diverged' : 'stopped';
    void client.stop();
    void service?.close();
    finish(code);
  };

  // Catching up on a long log must not block the event loop: heartbeats and acks would stop and
  // the primary would declare this secondary failed. Replay in slices, yielding between them;
  // only go-live replays everything at once (`all`).
  let replayScheduled = false;
  const scheduleReplay = () => {
    if (replayScheduled) return;
    replayScheduled = true;
    setImmediate(() => {
      replayScheduled = false;
      replayAvailable();
    });
  };

  const replayAvailable = (all = false) => {
    if (state !== 'following' && state !== 'going-live') return;
    if (!executor) {
      if (!booting && queue.pending > 0) {
        booting = Executor.bootReplay({ source: program.source, programName: program.name, limits, hooks }, queue).then(
          (booted) => {
            executor = booted;
            host.executor = booted;
            replayAvailable();
          },
          (error) => onReplayError(error),
        );
      }
      return;
    }
    try {
      const sliceEndMs = performance.now() + REPLAY_SLICE_MS;
      for (let entry = executor.replayNext(); entry; entry = executor.replayNext()) {
        if (entry.kind === 'stop') log(`the primary logged a planned stop (${entry.reason})`);
        if (!all && performance.now() >= sliceEndMs) return scheduleReplay();
      }
    } catch (error) {
      onReplayError(error);
    }
  };

  const onReplayError = (error: unknown) => {
    if (error instanceof DivergenceError) {
      state = 'diverged';
      stopWith(error.exitCode, `DIVERGED: ${error.message} This secondary cannot take over; it stops. [${error.code}]`);
      return;
    }
    if (error instanceof LockstepError) {
      stopWith(error.exitCode, `cannot replay: ${error.message} [${error.code}]`);
      return;
    }
    throw error;
  };

  const releaseUncertain = () => {
    for (const output of uncertain) if (output.gateSeq > releasedSeq) host.release(output);
    if (uncertainDropped > 0) log(`warning: ${uncertainDropped} uncertain console lines were beyond the bound and are not re-released`);
    uncertain = [];
  };

  const failover = async (reason: string) => {
    if (state !== 'following' || !connectedOnce) return;
    state = 'going-live';
    mark('failure-detected');
    log(`primary failed (${reason}); claiming epoch ${epoch + 1}`);
    if (booting) await booting;
    if (!executor) {
      log('nothing was received from the primary: there is nothing to take over; waiting for a primary');
      state = 'following';
      return;
    }
    let result;
    try {
      result = await claimEpoch(options.dir, epoch + 1, `secondary pid ${process.pid}`);
    } catch (error) {
      stopWith(error instanceof SharedStorageError ? error.exitCode : 1, `${error instanceof Error ? error.message : error} Not going live.`);
      return;
    }
    if (result === 'lost') {
      stopWith(FENCED_EXIT_CODE, `FENCED: lost the claim for epoch ${epoch + 1}: the primary went on alone. This node stops.`);
      return;
    }
    mark('claim-won');
    client.fence(); // never acknowledge the old primary again
    replayAvailable(true);
    // The switch: from here the guest reads the real world.
    epoch += 1;
    role = new PrimaryRole(
      {
        dir: options.dir,
        listen: options.logListen,
        secret,
        header,
        epoch,
        heartbeatIntervalMs,
        failureTimeoutMs,
        frameBytesMax: options.frameBytesMax,
        unackedBytesMax: options.unackedBytesMax,
        outputGate: true,
        onFenced: (why) => stopWith(FENCED_EXIT_CODE, `FENCED: ${why}`),
        log,
      },
      executor,
      host,
      retained,
    );
    state = 'live';
    const { writes } = executor.goLive();
    for (const [opId, write] of writes) host.performWrite(opId, write.path, write.data);
    releaseUncertain();
    const logPort = await role.listen();
    mark('live');
    log(`LIVE as primary of epoch ${epoch} after replaying ${executor.lastSeq} entries; logging channel on ${options.logListen.host}:${logPort}`);
  };

  const client = new ChannelClient({
    url: options.primaryUrl,
    secret,
    header,
    compatible: (mine, theirs) => checkHeaderCompatible(mine, theirs),
    haveSeq: () => retained.lastSeq,
    heartbeatIntervalMs,
    failureTimeoutMs,
    frameBytesMax: options.frameBytesMax ?? FRAME_BYTES_MAX_DEFAULT, // undefined would lift the client's limit
    onConnected: (welcome) => {
      connectedOnce = true;
      epoch = welcome.epoch;
      log(`following ${options.primaryUrl} (epoch ${epoch}) from entry #${welcome.startSeq}`);
    },
    onBatch: (firstSeq, count, payload) => {
      const batch = decodeBatch(payload);
      assert(batch.firstSeq === firstSeq && batch.entries.length === count, 'batch frame and payload disagree');
      for (let i = 0; i < count; i++) retained.append(firstSeq + i, batch.entries[i]);
      queue.push(firstSeq, batch.entries);
      // Replay after this returns: the channel acks on receipt, and the primary's outputs wait on it.
      scheduleReplay();
    },
    onReleased: (seq) => {
      releasedSeq = Math.max(releasedSeq, seq);
      if (uncertain.length > 0 && uncertain[0].gateSeq <= releasedSeq) uncertain = uncertain.filter((o) => o.gateSeq > releasedSeq);
    },
    onBye: (reason) => stopWith(0, `the primary stopped on purpose (${reason}); not going live`),
    onPeerSilent: () => void failover(`no frame for ${failureTimeoutMs} ms`),
    onDisconnected: () => void failover('the logging connection closed'),
    onRefused: (code, message) => log(`refused by the primary: ${message} [${code}]`),
    onError: (error) => stopWith(error.exitCode, `logging channel failed: ${error.message} [${error.code}]`),
  });

  const startedMs = Date.now();
  let service: ServiceServer | undefined;
  service = await startServiceServer(
    { host: options.host ?? '127.0.0.1', port: options.port, bodyBytesMax: options.bodyBytesMax },
    {
      role: () => (state === 'live' ? 'primary' : state === 'fenced' ? 'fenced' : 'secondary'),
      handle: async (request) => {
        assert(role, 'requests reach a secondary only once live');
        const wait = role.admission();
        if (wait) await wait;
        return host.handleRequest(request);
      },
      status: () => status(),
    },
  );
  client.start();
  log(`secondary of ${program.name} on http://${options.host ?? '127.0.0.1'}:${service.port}, following ${options.primaryUrl}`);

  const status = (): Record<string, unknown> => {
    const base = { program: program.name, uptimeMs: Date.now() - startedMs, timeline };
    if (state === 'live' && role) return { role: 'primary', promotedFromSecondary: true, events: executor?.eventsDelivered ?? 0, ...base, ...role.status() };
    const stats = client.stats;
    return {
      role: state === 'following' || state === 'going-live' ? 'secondary' : state,
      ...base,
      epoch,
      primary: options.primaryUrl,
      connected: client.state === 'connected',
      receivedSeq: retained.lastSeq,
      ackedSeq: stats.lastAckSeq,
      replayedSeq: executor?.lastSeq ?? 0,
      lagEntries: retained.lastSeq - (executor?.lastSeq ?? 0),
      releasedSeq,
      uncertainOutputs: uncertain.length,
      heartbeatRttMs: stats.rttMs,
      logBytesReceived: stats.bytesReceived,
      events: executor?.eventsDelivered ?? 0,
    };
  };

  return {
    port: service.port,
    done,
    status,
    stop: async (reason) => {
      if (state === 'live' && role) {
        await service?.close();
        await role.stop(reason);
        host.stop();
        finish(0);
        return;
      }
      state = 'stopped';
      await client.stop(reason);
      await service?.close();
      host.stop();
      finish(0);
    },
  };
}
