// `lockstep chaos`: parse flags, run the seeded fault schedule, write --json, and exit 0 (ok),
// 20 (correctness violation), 21 (liveness violation) or 22 (harness failure).
import { randomInt } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { chaosDefaults, runChaos } from '../chaos/chaos.js';
import { CHAOS_EXIT } from '../chaos/report.js';
import { FAULTS_MAX, parseKinds } from '../chaos/schedule.js';
import { parseDuration } from '../client/durations.js';
import { UsageError } from '../errors.js';
import { parseInteger } from './options.js';
import { LEASE_FRACTION } from '../replication/primary-role.js';
import { HOSTS_UNAVAILABLE_EXIT } from '../hosts/errors.js';
import { exitOnSignals, requireHostsSupport } from '../hosts/shell.js';

export const DEFAULT_CHAOS_PROGRAM = fileURLToPath(new URL('../../guest-programs/bank.js', import.meta.url));

export const CHAOS_HELP = `
Exit codes:
  ${CHAOS_EXIT.ok}   no violation
  2   usage error
  ${CHAOS_EXIT.correctness}  correctness violation (an acknowledged answer lost, a key answered two ways,
      two nodes serving at once, the guest's invariant broken, a divergence)
  ${CHAOS_EXIT.liveness}  liveness violation (a client-visible gap or a re-protection past its limit, a
      fenced node that did not exit, keys no node answered)
  ${CHAOS_EXIT.harness}  harness failure (the first pair never came up, a node did not start, ...)
  ${HOSTS_UNAVAILABLE_EXIT}  --hosts on a machine that cannot host it (not root, or ip, nft or etcd missing)
Fault kinds: safe (kill-primary, kill-secondary), all, or a comma-separated list of kill-primary,
  kill-secondary, restart-primary, restart-secondary, stop-primary, stop-secondary, link-cut,
  link-blackhole, link-slow, blackhole-kill-primary, disk-full (needs root: a small tmpfs on the run's <dir>/epochs).
With --hosts: the nodes run on two network namespaces ('hosts' a and b, joined by a bridge) with a
  3-member etcd as the arbiter, each member in a namespace of its own; 'hosts' (the default then)
  is kill-primary, kill-secondary, restart-primary, restart-secondary, stop-primary, stop-secondary
  and the host faults net-cut, net-cut-one-way (nftables drops between the two hosts, both ways or
  one), net-cut-etcd-primary, net-cut-etcd-secondary (a node's host cut off from etcd) and
  etcd-leader-kill (the killed member is restarted after a while). Needs root.
The same --seed and --fault-kinds give the same fault schedule.`;

export interface ChaosFlags {
  seed?: string;
  faults: string;
  /** Default: 'safe', or 'hosts' with --hosts. */
  faultKinds?: string;
  program?: string;
  json?: string;
  duration?: string;
  rate: string;
  concurrency: string;
  heartbeatMs: string;
  failureTimeoutMs: string;
  gapMax: string;
  reprotectMax: string;
  outputGate?: boolean;
  channelDelayMs?: string;
  linkDelayMs?: string;
  checkpointEveryEntries: string;
  hosts?: boolean;
}

export async function chaosCommand(flags: ChaosFlags, print: (line: string) => void): Promise<number> {
  const heartbeatMs = parseInteger(flags.heartbeatMs, '--heartbeat-ms', 5, 60_000)!;
  const failureTimeoutMs = parseInteger(flags.failureTimeoutMs, '--failure-timeout-ms', 20, 600_000)!;
  if (failureTimeoutMs <= heartbeatMs) throw new UsageError(`--failure-timeout-ms (${failureTimeoutMs}) must be larger than --heartbeat-ms (${heartbeatMs}).`);
  const linkDelayMs = parseDelayRange(flags.linkDelayMs);
  if (flags.hosts && linkDelayMs) throw new UsageError('--link-delay-ms delays the logging link through a proxy on loopback; with --hosts the nodes talk directly across the namespaces. Leave out one of them.');
  // The lease needs a heartbeat echo younger than 0.9 x the failure timeout: a round trip must fit, with room.
  if (linkDelayMs && 4 * linkDelayMs.max >= LEASE_FRACTION * failureTimeoutMs) {
    throw new UsageError(
      `--link-delay-ms up to ${linkDelayMs.max} ms per direction needs --failure-timeout-ms above ${Math.ceil((4 * linkDelayMs.max) / LEASE_FRACTION)} ` +
        `(a round trip of ${2 * linkDelayMs.max} ms must fit well within the lease, 0.9 x the timeout), not ${failureTimeoutMs}.`,
    );
  }
  if (flags.hosts) await prepareHosts();
  const summary = await runChaos({
    hosts: flags.hosts === true,
    seed: flags.seed === undefined ? randomInt(2 ** 31) : parseInteger(flags.seed, '--seed', 0, 2 ** 31)!,
    faults: parseInteger(flags.faults, '--faults', 0, FAULTS_MAX)!,
    kinds: parseKinds(flags.faultKinds ?? (flags.hosts ? 'hosts' : 'safe')),
    program: flags.program ?? DEFAULT_CHAOS_PROGRAM,
    durationMs: flags.duration === undefined ? undefined : parseDuration(flags.duration, '--duration'),
    rate: parseInteger(flags.rate, '--rate', 1, 10_000)!,
    concurrency: parseInteger(flags.concurrency, '--concurrency', 1, 1000)!,
    heartbeatMs,
    failureTimeoutMs,
    gapMaxMs: parseDuration(flags.gapMax, '--gap-max'),
    reprotectMaxMs: parseDuration(flags.reprotectMax, '--reprotect-max'),
    outputGate: flags.outputGate !== false,
    channelDelayMs: parseInteger(flags.channelDelayMs, '--channel-delay-ms', 0, 60_000) ?? 0,
    linkDelayMs,
    checkpointEveryEntries: parseInteger(flags.checkpointEveryEntries, '--checkpoint-every-entries', 0, 1_000_000_000)!,
    print,
  });
  if (flags.json) await writeFile(flags.json, JSON.stringify(summary, null, 2) + '\n');
  // The verdict is out: a handle left behind (a socket of a killed node, a proxy's) must not keep the
  // harness from exiting, whoever waits for it (the test suite, a campaign).
  setTimeout(() => process.exit(summary.exitCode), CHAOS_EXIT_GRACE_MS);
  return summary.exitCode;
}

/** '50..400' (each secondary's link draws a delay in that range, per direction) or '200' (all the same). */
export function parseDelayRange(text: string | undefined): { min: number; max: number } | undefined {
  if (text === undefined) return undefined;
  const match = /^(\d+)(?:\.\.(\d+))?$/.exec(text.trim());
  const [min, max] = match ? [Number(match[1]), Number(match[2] ?? match[1])] : [NaN, NaN];
  if (!match || min > max || max > 60_000) throw new UsageError(`--link-delay-ms: '${text}' is not MS or MIN..MAX in ms (at most 60000), e.g. 50..400.`);
  return max === 0 ? undefined : { min, max };
}

/**
 * --hosts needs root and the tools (exit 23 otherwise); a Ctrl-C or kill ends the process through
 * 'exit', where the testbed removes its namespaces and every process in them.
 */
async function prepareHosts(): Promise<void> {
  await requireHostsSupport('lockstep chaos --hosts');
  exitOnSignals(CHAOS_EXIT.harness);
}

/** After the verdict, the harness exits this long later at the latest. */
const CHAOS_EXIT_GRACE_MS = 1000;

export const chaosFlagDefaults = {
  faults: String(chaosDefaults.faults),
  rate: String(chaosDefaults.rate),
  concurrency: String(chaosDefaults.concurrency),
  heartbeatMs: String(chaosDefaults.heartbeatMs),
  failureTimeoutMs: String(chaosDefaults.failureTimeoutMs),
  gapMax: `${chaosDefaults.gapMaxMs}ms`,
  reprotectMax: `${chaosDefaults.reprotectMaxMs}ms`,
  checkpointEveryEntries: String(chaosDefaults.checkpointEveryEntries),
};
