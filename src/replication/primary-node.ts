// `lockstep primary`: decides at start whether this node owns a new epoch (it boots the guest
// live, serves HTTP and protects itself with a secondary over the logging channel) or another node
// owns the current one (it joins that node as its secondary, or refuses). See primary-role.ts for
// the output rule and failure handling.
import { LiveHost } from '../host/live-host.js';
import { requestBytes } from '../http/incoming-request.js';
import { startServiceServer, type ServiceServer } from '../http/service-server.js';
import { PrimaryRole } from './primary-role.js';
import { RetainedLog, RETAINED_BYTES_MAX, RETAINED_ENTRIES_MAX } from './retained-log.js';
import { FENCED_EXIT_CODE, nodeCheckpoints, preparePairNode, roleOptionsFrom, type PairOptions, type RunningNode } from './pair-node.js';
import { decideStart, where } from './ownership.js';
import { takeEpochData } from './epoch-data.js';
import { Timeline } from './timeline.js';
import { Lineage } from './lineage.js';
import { startSecondary } from './secondary-node.js';

export type { PairOptions, RunningNode } from './pair-node.js';
export { FENCED_EXIT_CODE, preparePairNode } from './pair-node.js';

export interface PrimaryOptions extends PairOptions {
  logListen: { host: string; port: number };
  outputGate?: boolean;
  channelDelayMs?: number;
  /** Claim the next epoch even though the current owner may be alive (it is gone for good). */
  takeover?: boolean;
}

export async function startPrimary(options: PrimaryOptions): Promise<RunningNode> {
  const log = options.log ?? ((line: string) => process.stderr.write(`[primary] ${line}\n`));
  const prepared = await preparePairNode(options);
  const decision = await decideStart({ arbiter: prepared.arbiter, who: `primary pid ${process.pid}`, takeover: options.takeover, log });
  if (decision.kind === 'join') {
    log(`epoch ${decision.epoch} of ${where(prepared.arbiter)} belongs to the node at ${decision.primaryUrl}: joining it as its secondary instead of serving beside it`);
    return startSecondary({ ...options, primaryUrl: decision.primaryUrl, logListen: options.logListen, log });
  }
  try {
    return await startOwner(options, prepared, decision.epoch, log);
  } catch (error) {
    // Nothing was served in this epoch (the guest failed to load, a port was taken...): release it, so
    // the next start is not refused as if a live owner held it.
    await prepared.arbiter.update(decision.epoch, { releasedAtMs: Date.now() }).catch(() => undefined);
    throw error;
  }
}

async function startOwner(options: PrimaryOptions, prepared: Awaited<ReturnType<typeof preparePairNode>>, epoch: number, log: (line: string) => void): Promise<RunningNode> {
  const { program, limits, secret, header } = prepared;
  const dataDir = await takeEpochData(options.dir, epoch);
  const retained = new RetainedLog(RETAINED_ENTRIES_MAX, options.retainedBytesMax ?? RETAINED_BYTES_MAX);
  const timeline = new Timeline();
  const host = await LiveHost.boot(
    { dir: options.dir, dataDir, onConsole: options.onConsole, onEntry: (seq, entry) => retained.append(seq, entry) },
    { source: program.source, programName: program.name, limits },
  );
  const { executor } = host;

  let finish!: (code: number) => void;
  const done = new Promise<number>((resolve) => (finish = resolve));
  let service: ServiceServer | undefined;
  const role: PrimaryRole = new PrimaryRole(
    {
      ...roleOptionsFrom(options, prepared),
      epoch,
      lineage: Lineage.startingAt(epoch),
      checkpoints: nodeCheckpoints(options, prepared, () => retained, log),
      outputGate: options.outputGate ?? true,
      channelDelayMs: options.channelDelayMs,
      timeline,
      onFenced: (reason, exitCode) => {
        log(`FENCED: ${reason}. This node stops now and releases nothing more.`);
        // Done once everything it held is released, so a rejoin in this process can take the same ports.
        void Promise.allSettled([service?.close(), role.server.close()]).then(() => {
          executor.dispose();
          finish(exitCode ?? FENCED_EXIT_CODE);
        });
      },
      onHandedOver: (reason) => {
        log(`${reason}: this node stops (exit 0). It runs the old program, so it cannot follow the new primary; start a secondary of the new program to protect it.`);
        void Promise.allSettled([service?.close()]).then(() => {
          executor.dispose();
          finish(0);
        });
      },
      log,
    },
    executor,
    host,
    retained,
  );
  host.setOnEntry((seq, entry) => role.onEntry(seq, entry));
  let logPort: number;
  const startedMs = Date.now();
  try {
    logPort = await role.listen();
    service = await startServiceServer(
      { host: options.host ?? '127.0.0.1', port: options.port, bodyBytesMax: options.bodyBytesMax },
      {
        role: () => (role.isFenced ? 'fenced' : 'primary'),
        handle: async (request, abandoned) => {
          const wait = role.admission(requestBytes(request));
          if (wait) await wait;
          if (role.isFenced) throw new Error('this node was fenced');
          return host.handleRequest(request, abandoned);
        },
        status: () => ({ role: role.isFenced ? 'fenced' : 'primary', program: program.name, uptimeMs: Date.now() - startedMs, events: executor.eventsDelivered, ...role.status() }),
        epoch: () => role.epoch,
      },
    );
  } catch (error) {
    // A failed start releases what it took: the logging channel (a secondary could attach to a node
    // that serves no one), the guest's timers (they would keep the process alive), the guest. The
    // caller releases the epoch.
    await role.stop('this node failed to start').catch(() => undefined);
    host.stop();
    executor.dispose();
    throw error;
  }
  log(`serving ${program.name} on http://${options.host ?? '127.0.0.1'}:${service.port}, logging channel on ${options.logListen.host}:${logPort}, epoch ${epoch}`);
  return {
    port: service.port,
    logPort,
    done,
    status: () => ({ role: 'primary', ...role.status() }),
    stop: async (reason) => {
      await service?.close();
      await role.stop(reason);
      host.stop();
      executor.dispose();
      finish(0);
    },
  };
}
