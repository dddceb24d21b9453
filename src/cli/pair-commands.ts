// `lockstep primary`, `lockstep secondary` and `lockstep status`: thin wrappers that parse flags,
// start a node, stop it cleanly on SIGTERM/SIGINT (a planned stop), and return its exit code.
import { startPrimary, type RunningNode } from '../replication/primary-node.js';
import { startSecondary } from '../replication/secondary-node.js';
import { startShadow } from '../timetravel/shadow-node.js';
import { withRejoin } from '../replication/rejoin.js';
import { arbiterFor } from '../replication/pair-node.js';
import { UsageError } from '../errors.js';
import type { CheckpointPolicy } from '../checkpoint/node-checkpoints.js';
import { REPLAY_BACKLOG_ENTRIES_MIN } from '../replication/primary-role.js';
import { parseHostPort, parseInteger, parseLimits, type LimitFlags } from './options.js';
import { ARBITER_LEASE_TTL_MS_MIN } from '../replication/etcd-arbiter.js';
import { newSecretHex, writeNewSecretFile } from '../channel/secret.js';

export interface PairFlags extends LimitFlags {
  port: string;
  host: string;
  dir: string;
  bodyBytesMax?: string;
  heartbeatMs?: string;
  failureTimeoutMs?: string;
  unackedBytesMax?: string;
  admissionWaitingBytesMax?: string;
  claimTimeoutMs?: string;
  retainedBytesMax?: string;
  checkpointEveryEntries?: string;
  checkpointEveryBytes?: string;
  checkpointEveryMs?: string;
  checkpointBytesMax?: string;
  replayBacklogEntriesMax?: string;
  replayBacklogMsMax?: string;
  logListen?: string;
  /** 'file' (default) or etcd://HOST:PORT[,HOST:PORT...]. */
  arbiter?: string;
  arbiterPrefix?: string;
  arbiterLeaseMs?: string;
  secretFile?: string;
  replicaBytesMax?: string;
  /** false with --no-rejoin: a fenced node exits (10) instead of following the current owner. */
  rejoin?: boolean;
}

function pairOptions(program: string, flags: PairFlags) {
  const heartbeatIntervalMs = parseInteger(flags.heartbeatMs, '--heartbeat-ms', 5, 60_000);
  const failureTimeoutMs = parseInteger(flags.failureTimeoutMs, '--failure-timeout-ms', 20, 600_000);
  if (heartbeatIntervalMs !== undefined && failureTimeoutMs !== undefined && failureTimeoutMs <= heartbeatIntervalMs) {
    throw new UsageError(`--failure-timeout-ms (${failureTimeoutMs}) must be larger than --heartbeat-ms (${heartbeatIntervalMs}).`);
  }
  if (flags.arbiterPrefix !== undefined && (flags.arbiter ?? 'file') === 'file') {
    throw new UsageError('--arbiter-prefix names keys in etcd: it needs --arbiter etcd://HOST:PORT[,...] (the file arbiter keeps its claims in --dir).');
  }
  const arbiterLeaseMs = parseInteger(flags.arbiterLeaseMs, '--arbiter-lease-ms', ARBITER_LEASE_TTL_MS_MIN, 3_600_000);
  for (const [flag, given] of [['--arbiter-lease-ms', flags.arbiterLeaseMs], ['--replica-bytes-max', flags.replicaBytesMax]] as const) {
    if (given !== undefined && (flags.arbiter ?? 'file') === 'file') throw new UsageError(`${flag} is for two hosts: it needs --arbiter etcd://HOST:PORT[,...] (with the file arbiter the pair shares --dir).`);
  }
  arbiterFor({ dir: flags.dir, arbiter: flags.arbiter, arbiterPrefix: flags.arbiterPrefix, arbiterLeaseMs }).close(); // a bad URL or prefix is a usage error before anything starts
  return {
    program,
    host: flags.host,
    port: parseInteger(flags.port, '--port', 0, 65535)!,
    dir: flags.dir,
    arbiter: flags.arbiter,
    arbiterPrefix: flags.arbiterPrefix,
    arbiterLeaseMs,
    secretFile: flags.secretFile,
    replicaBytesMax: parseInteger(flags.replicaBytesMax, '--replica-bytes-max', 1024, 64 * 1024 ** 3),
    limits: parseLimits(flags),
    bodyBytesMax: parseInteger(flags.bodyBytesMax, '--body-bytes-max', 0, 1024 * 1024 * 1024),
    heartbeatIntervalMs,
    failureTimeoutMs,
    unackedBytesMax: parseInteger(flags.unackedBytesMax, '--unacked-bytes-max', 1024, 1024 * 1024 * 1024),
    admissionWaitingBytesMax: parseInteger(flags.admissionWaitingBytesMax, '--admission-waiting-bytes-max', 0, 64 * 1024 * 1024 * 1024),
    claimTimeoutMs: parseInteger(flags.claimTimeoutMs, '--claim-timeout-ms', 100, 600_000),
    retainedBytesMax: parseInteger(flags.retainedBytesMax, '--retained-bytes-max', 64 * 1024, 64 * 1024 * 1024 * 1024),
    checkpointPolicy: checkpointPolicy(flags),
    replayBacklogEntriesMax: parseInteger(flags.replayBacklogEntriesMax, '--replay-backlog-entries-max', REPLAY_BACKLOG_ENTRIES_MIN, 10_000_000),
    replayBacklogMsMax: parseInteger(flags.replayBacklogMsMax, '--replay-backlog-ms-max', 1, 3_600_000),
  };
}

/** Only the fields given: the rest keep their defaults. */
function checkpointPolicy(flags: PairFlags): Partial<CheckpointPolicy> {
  const policy: Partial<CheckpointPolicy> = {};
  const everyEntries = parseInteger(flags.checkpointEveryEntries, '--checkpoint-every-entries', 0, 1_000_000_000);
  const everyLogBytes = parseInteger(flags.checkpointEveryBytes, '--checkpoint-every-bytes', 0, 1024 ** 4);
  const everyMs = parseInteger(flags.checkpointEveryMs, '--checkpoint-every-ms', 0, 7 * 24 * 3600 * 1000);
  const checkpointBytesMax = parseInteger(flags.checkpointBytesMax, '--checkpoint-bytes-max', 1024 * 1024, 4 * 1024 ** 3);
  if (everyEntries !== undefined) policy.everyEntries = everyEntries;
  if (everyLogBytes !== undefined) policy.everyLogBytes = everyLogBytes;
  if (everyMs !== undefined) policy.everyMs = everyMs;
  if (checkpointBytesMax !== undefined) policy.checkpointBytesMax = checkpointBytesMax;
  return policy;
}

/** After the node is done, anything still open (a lingering socket) must not keep a fenced node alive. */
const EXIT_GRACE_MS = 1000;

async function untilDone(node: RunningNode): Promise<number> {
  const stop = (signal: string) => void node.stop(`${signal} (planned stop)`);
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  const code = await node.done;
  setTimeout(() => process.exit(code), EXIT_GRACE_MS).unref();
  return code;
}

export async function primaryCommand(program: string, flags: PairFlags & { outputGate?: boolean; channelDelayMs?: string; takeover?: boolean }): Promise<number> {
  const logListen = parseHostPort(flags.logListen ?? '127.0.0.1:7070', '--log-listen');
  const node = await startPrimary({
    ...pairOptions(program, flags),
    logListen,
    outputGate: flags.outputGate !== false,
    channelDelayMs: parseInteger(flags.channelDelayMs, '--channel-delay-ms', 0, 60_000),
    takeover: flags.takeover === true,
  });
  return untilDone(healing(node, program, flags, logListen));
}

export async function secondaryCommand(program: string, flags: PairFlags & { primary: string; shadow?: boolean; fromRecording?: string; record?: string }): Promise<number> {
  if (!/^wss?:\/\/.+/.test(flags.primary)) throw new UsageError(`--primary: '${flags.primary}' is not a ws:// URL (e.g. ws://127.0.0.1:7070).`);
  const logListen = parseHostPort(flags.logListen ?? '127.0.0.1:0', '--log-listen');
  // A shadow never rejoins anyone: it follows one primary, and goes live only by a switchover.
  if (!flags.shadow && (flags.fromRecording !== undefined || flags.record !== undefined)) throw new UsageError('--from-recording and --record are for a shadow: add --shadow.');
  if (flags.shadow) return untilDone(await startShadow({ ...pairOptions(program, flags), primaryUrl: flags.primary, logListen, fromRecording: flags.fromRecording, record: flags.record }));
  const node = await startSecondary({ ...pairOptions(program, flags), rejoin: flags.rejoin !== false, primaryUrl: flags.primary, logListen });
  return untilDone(healing(node, program, flags, logListen));
}

/** Unless --no-rejoin: a fenced node follows the current owner as a fresh secondary, in this process. */
function healing(node: RunningNode, program: string, flags: PairFlags, logListen: { host: string; port: number }): RunningNode {
  if (flags.rejoin === false) return node;
  const log = (line: string) => process.stderr.write(`[rejoin] ${line}\n`);
  return withRejoin(node, {
    arbiter: arbiterFor({ dir: flags.dir, arbiter: flags.arbiter, arbiterPrefix: flags.arbiterPrefix }),
    log,
    follow: (primaryUrl) => startSecondary({ ...pairOptions(program, flags), rejoin: true, primaryUrl, logListen }),
  });
}

/** `lockstep status <url>`: fetches GET /_lockstep/status and prints it readably (or raw JSON). */
export async function statusCommand(url: string, flags: { json?: boolean }, out: (line: string) => void): Promise<number> {
  const target = new URL('/_lockstep/status', url);
  let body: Record<string, unknown>;
  try {
    const response = await fetch(target, { signal: AbortSignal.timeout(3000) });
    body = (await response.json()) as Record<string, unknown>;
  } catch (error) {
    out(`cannot reach ${target.href}: ${error instanceof Error ? error.message : error}`);
    return 1;
  }
  if (flags.json) {
    out(JSON.stringify(body, null, 2));
    return 0;
  }
  out(`${target.origin}  role ${body.role}  epoch ${body.epoch ?? '-'}`);
  for (const [key, value] of Object.entries(body)) {
    if (key === 'role' || key === 'epoch') continue;
    out(`  ${key.padEnd(22)} ${typeof value === 'number' ? formatNumber(value) : JSON.stringify(value)}`);
  }
  return 0;
}

function formatNumber(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(2);
}

/** `lockstep secret`: a new channel secret for --secret-file (printed, or written to a new file of mode 600). */
export async function secretCommand(flags: { out?: string }, out: (line: string) => void): Promise<number> {
  if (!flags.out) {
    out(newSecretHex());
    return 0;
  }
  await writeNewSecretFile(flags.out);
  out(`wrote a new channel secret to ${flags.out} (mode 600); copy it to the other node and give both --secret-file ${flags.out}`);
  return 0;
}
