// `lockstep primary`: boots the guest live, serves HTTP, and protects itself with a secondary
// over the logging channel (see primary-role.ts for the output rule and failure handling).
import { mkdir } from 'node:fs/promises';
import { loadOrCreateSecret } from '../channel/secret.js';
import { Executor } from '../engine/executor.js';
import { loadProgram, makeHeader } from '../engine/program.js';
import { dataDirOf } from '../host/data-dir.js';
import { LiveHost } from '../host/live-host.js';
import { startServiceServer, type ServiceServer } from '../http/service-server.js';
import type { GuestLimits } from '../log/entries.js';
import { DEFAULT_GUEST_LIMITS } from '../sandbox/guest.js';
import { currentEpoch } from './arbitration.js';
import { PrimaryRole } from './primary-role.js';
import { RetainedLog } from './retained-log.js';
import { HEARTBEAT_INTERVAL_MS_DEFAULT, FAILURE_TIMEOUT_MS_DEFAULT } from '../channel/channel-server.js';

export interface PairOptions {
  program: string;
  host?: string;
  port: number;
  dir: string;
  limits?: Partial<GuestLimits>;
  bodyBytesMax?: number;
  heartbeatIntervalMs?: number;
  failureTimeoutMs?: number;
  unackedBytesMax?: number;
  frameBytesMax?: number;
  log?: (line: string) => void;
  onConsole?: (level: string, text: string) => void;
}

export interface PrimaryOptions extends PairOptions {
  logListen: { host: string; port: number };
  outputGate?: boolean;
  channelDelayMs?: number;
}

export interface RunningNode {
  port: number;
  logPort?: number;
  /** Resolves with the exit code the process should end with (fenced, stopped...). */
  done: Promise<number>;
  /** Planned stop (SIGTERM/SIGINT). */
  stop(reason: string): Promise<void>;
  status(): Record<string, unknown>;
}

export const FENCED_EXIT_CODE = 10;

/** What both nodes of a pair set up the same way: the program, its limits, the data dir, the secret. */
export async function preparePairNode(options: PairOptions) {
  const program = await loadProgram(options.program);
  const limits: GuestLimits = { ...DEFAULT_GUEST_LIMITS, ...options.limits };
  await mkdir(dataDirOf(options.dir), { recursive: true });
  const secret = await loadOrCreateSecret(options.dir);
  return { program, limits, secret, header: makeHeader(program, limits) };
}

export async function startPrimary(options: PrimaryOptions): Promise<RunningNode> {
  const log = options.log ?? ((line: string) => process.stderr.write(`[primary] ${line}\n`));
  const { program, limits, secret, header } = await preparePairNode(options);
  const epoch = await currentEpoch(options.dir);
  const retained = new RetainedLog();
  const host = new LiveHost({ dir: options.dir, onConsole: options.onConsole, onEntry: (seq, entry) => retained.append(seq, entry) });
  const executor = await Executor.bootLive({ source: program.source, programName: program.name, limits, hooks: host.hooks() });
  host.executor = executor;

  let finish!: (code: number) => void;
  const done = new Promise<number>((resolve) => (finish = resolve));
  let role: PrimaryRole;
  let service: ServiceServer | undefined;
  role = new PrimaryRole(
    {
      dir: options.dir,
      listen: options.logListen,
      secret,
      header,
      epoch,
      heartbeatIntervalMs: options.heartbeatIntervalMs ?? HEARTBEAT_INTERVAL_MS_DEFAULT,
      failureTimeoutMs: options.failureTimeoutMs ?? FAILURE_TIMEOUT_MS_DEFAULT,
      frameBytesMax: options.frameBytesMax,
      unackedBytesMax: options.unackedBytesMax,
      outputGate: options.outputGate ?? true,
      channelDelayMs: options.channelDelayMs,
      onFenced: (reason) => {
        log(`FENCED: ${reason}. This node stops now and releases nothing more.`);
        void service?.close();
        void role.server.close();
        finish(FENCED_EXIT_CODE);
      },
      log,
    },
    executor,
    host,
    retained,
  );
  host.setOnEntry((seq, entry) => role.onEntry(seq, entry));
  const logPort = await role.listen();
  const startedMs = Date.now();
  service = await startServiceServer(
    { host: options.host ?? '127.0.0.1', port: options.port, bodyBytesMax: options.bodyBytesMax },
    {
      role: () => (role.isFenced ? 'fenced' : 'primary'),
      handle: async (request) => {
        const wait = role.admission();
        if (wait) await wait;
        if (role.isFenced) throw new Error('this node was fenced');
        return host.handleRequest(request);
      },
      status: () => ({ role: role.isFenced ? 'fenced' : 'primary', program: program.name, uptimeMs: Date.now() - startedMs, events: executor.eventsDelivered, ...role.status() }),
    },
  );
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
