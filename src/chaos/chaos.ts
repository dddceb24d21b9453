// `lockstep chaos`: a lineage of real nodes under seeded, retried, idempotent load and a seeded
// schedule of faults; after each fault a supervisor restores protection (a fresh secondary against
// the survivor). Afterwards the checkers judge what clients saw and what nodes reported.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { checkHistory, EXAMPLES_PER_KIND_MAX, violation, type FinalState, type LivenessLimits, type Violation } from './checkers.js';
import { attempt, ChaosLoad } from './client.js';
import { DiskFault } from './disk-fault.js';
import { inject } from './faults.js';
import { finalState, openingState, workloadFor } from './guest-state.js';
import type { AnswerRecord, FaultRecord, History, StatusSample } from './history.js';
import { Lineage, type ChaosNode } from './lineage.js';
import { Monitor } from './monitor.js';
import { formatSummary, summarize, type ChaosSummary } from './report.js';
import { isHostFault, makeSchedule, type FaultKind } from './schedule.js';
import { HostPlacement } from '../hosts/placement.js';
import { testbedFaults } from '../hosts/host-faults.js';
import { Testbed } from '../hosts/testbed.js';
import { createRng } from '../client/rng.js';
import { FAILURE_TIMEOUT_MS_DEFAULT, HEARTBEAT_INTERVAL_MS_DEFAULT } from '../channel/channel-server.js';

export interface ChaosOptions {
  seed: number;
  faults: number;
  kinds: FaultKind[];
  program: string;
  /** Stop injecting faults after this long (the schedule may be cut short). */
  durationMs?: number;
  rate: number;
  concurrency: number;
  heartbeatMs: number;
  failureTimeoutMs: number;
  gapMaxMs: number;
  reprotectMaxMs: number;
  /** Passed to every `lockstep primary`: only to check that the checkers catch a broken system. */
  outputGate: boolean;
  channelDelayMs: number;
  /** Each secondary's logging link adds a seeded delay per direction from this range (a real round trip). */
  linkDelayMs?: { min: number; max: number };
  /** Passed to every node: checkpoints this often, so restarted secondaries are re-protected from one. */
  checkpointEveryEntries: number;
  /** Nodes on two network namespaces with a 3-member etcd (needs root); host fault kinds need it. */
  hosts?: boolean;
  print(line: string): void;
}

/** Kinds that need the logging link's proxy, which nodes on a testbed do not have. */
const PROXY_KINDS: readonly FaultKind[] = ['link-cut', 'link-blackhole', 'link-slow', 'blackhole-kill-primary', 'disk-full'];

/** The kinds a run can inject where it runs, with a note for each left out. */
function runnableKinds(kinds: FaultKind[], hosts: boolean, notes: string[]): FaultKind[] {
  const left = kinds.filter((k) => (hosts ? !PROXY_KINDS.includes(k) : !isHostFault(k)));
  const out = kinds.filter((k) => !left.includes(k));
  if (out.length > 0) notes.push(`${out.join(', ')} left out of the schedule: ${hosts ? 'nodes on --hosts have no link proxy or tmpfs' : 'they need --hosts'}`);
  return left;
}

export const chaosDefaults = {
  faults: 10,
  rate: 50,
  concurrency: 8,
  // The nodes' own defaults.
  heartbeatMs: HEARTBEAT_INTERVAL_MS_DEFAULT,
  failureTimeoutMs: FAILURE_TIMEOUT_MS_DEFAULT,
  // Far more often than a node's default, so that most restarted secondaries are re-protected from a checkpoint.
  checkpointEveryEntries: 500,
  gapMaxMs: 10_000,
  reprotectMaxMs: 30_000,
} as const;

/** Keys asked again after the run (all of them up to this; a seeded choice past it would be needed). */
export const READBACK_KEYS_MAX = 50_000;
const READBACK_CONCURRENCY = 8;
const REQUEST_TIMEOUT_MS = 2000;
const LATE_ANSWER_WINDOW_MS = 3000;
const GIVE_UP_AFTER_MS = 20_000;
const FENCED_EXIT_GRACE_MS = 3000;
/** Fresh secondaries the supervisor starts for one fault before it gives up (each may die at once). */
const SPAWNS_PER_FAULT_MAX = 3;
/** A fresh secondary not yet following after this long is replaced. */
const SPAWN_PENDING_MS = 10_000;
/** Cleanup steps (stopping the monitor, killing the nodes) that take longer are abandoned. */
const CLEANUP_STEP_MS_MAX = 10_000;

/** Resolves with the promise, or rejects after `ms`: a harness that hangs must still report. */
function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not finish within ${Math.round(ms / 1000)} s`)), ms)));
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function runChaos(o: ChaosOptions): Promise<ChaosSummary> {
  const t0 = performance.now();
  const now = () => performance.now() - t0;
  o.print(`SEED=${o.seed}`);
  const program = resolve(o.program);
  const dir = await mkdtemp(join(tmpdir(), 'lockstep-chaos-'));
  const notes: string[] = [];
  let kinds = runnableKinds(o.kinds, o.hosts === true, notes);
  let disk: DiskFault | undefined;
  if (kinds.includes('disk-full')) {
    const mounted = await DiskFault.mount(dir);
    if (typeof mounted === 'string') {
      notes.push(`disk-full left out of the schedule: ${mounted}`);
      kinds = kinds.filter((k) => k !== 'disk-full');
    } else disk = mounted;
  }
  const schedule = kinds.length > 0 ? makeSchedule({ seed: o.seed, faults: o.faults, kinds, failureTimeoutMs: o.failureTimeoutMs }) : [];
  o.print(`chaos: ${o.faults} faults of ${kinds.join(', ') || '(none)'} on ${program}, dir ${dir}`);
  o.print(`schedule: ${schedule.map((f) => f.kind + (f.durationMs ? `(${f.durationMs}ms)` : '')).join(' ')}`);

  const common = ['--heartbeat-ms', String(o.heartbeatMs), '--failure-timeout-ms', String(o.failureTimeoutMs), '--checkpoint-every-entries', String(o.checkpointEveryEntries)];
  const primaryExtra = [...(o.outputGate ? [] : ['--no-output-gate']), ...(o.channelDelayMs > 0 ? ['--channel-delay-ms', String(o.channelDelayMs)] : [])];
  const delays = createRng(o.seed ^ 0x1d1a7);
  const linkDelayMs = o.linkDelayMs && (() => Math.round(o.linkDelayMs!.min + delays.next() * (o.linkDelayMs!.max - o.linkDelayMs!.min)));
  if (o.linkDelayMs) o.print(`logging links: ${o.linkDelayMs.min}..${o.linkDelayMs.max} ms per direction`);
  let testbed: Testbed | undefined;
  let placement: HostPlacement | undefined;
  if (o.hosts) {
    try {
      testbed = await Testbed.create();
    } catch (error) {
      await rm(dir, { recursive: true, force: true });
      return reportSetupFailure(o, kinds, schedule.length, notes, `the two-host testbed could not be built: ${error instanceof Error ? error.message : error}`, now());
    }
    placement = new HostPlacement(testbed, { program, pairDir: dir, arbiterPrefix: `chaos-${o.seed}`, common, primaryExtra });
    o.print(`hosts: nodes on ${testbed.host('a').address} and ${testbed.host('b').address} (namespaces ${testbed.host('a').ns}, ${testbed.host('b').ns}), etcd ${testbed.etcd.url}`);
  }
  const hosts = testbed && placement && testbedFaults(testbed, placement);
  const lineage = new Lineage({ program, dir, common, primaryExtra, linkDelayMs, now, placement });
  const monitor = new Monitor(() => lineage.nodes, now);
  const faults: FaultRecord[] = [];
  const readback: AnswerRecord[] = [];
  let load: ChaosLoad | undefined;
  let final: FinalState | undefined;
  let harnessError: string | null = null;
  const runViolations: Violation[] = [];

  // --- what the supervisor sees (status samples only) ---
  const sampleOf = (n: ChaosNode, sinceMs: number): StatusSample | undefined => {
    const s = monitor.latest.get(n.record.id);
    return s && s.tMs >= sinceMs && n.alive ? s : undefined;
  };
  const currentPrimary = (sinceMs: number) => {
    const primaries = lineage.live().flatMap((n) => {
      const s = sampleOf(n, sinceMs);
      return s?.role === 'primary' ? [{ n, s }] : [];
    });
    primaries.sort((a, b) => b.s.epoch - a.s.epoch || a.n.record.startMs - b.n.record.startMs);
    return primaries[0];
  };
  const secondariesOf = (epoch: number, sinceMs: number) =>
    lineage.live().flatMap((n) => {
      const s = sampleOf(n, sinceMs);
      return s?.role === 'secondary' && s.connected && s.epoch === epoch ? [{ n, s }] : [];
    }).sort((a, b) => b.n.record.startMs - a.n.record.startMs);

  /** Restores protection after `sinceMs`, like a supervisor; resolves with the time a caught-up secondary protects a primary, or null. */
  const restore = async (sinceMs: number, deadlineMs: number, spawnAfterMs: number): Promise<number | null> => {
    let caughtUpTarget: { p: string; s: string; seq: number } | undefined;
    let spawned: ChaosNode | undefined;
    let spawns = 0;
    while (now() < deadlineMs) {
      await monitor.nextRound();
      const p = currentPrimary(sinceMs);
      if (!p) continue;
      const secondaries = secondariesOf(p.s.epoch, sinceMs);
      const sec = secondaries[0];
      if (p.s.protection === 'protected' && sec) {
        if (caughtUpTarget?.p !== p.n.record.id || caughtUpTarget.s !== sec.n.record.id) caughtUpTarget = { p: p.n.record.id, s: sec.n.record.id, seq: p.s.lastSeq ?? 0 };
        if ((sec.s.replayedSeq ?? 0) >= caughtUpTarget.seq) return now();
        continue;
      }
      // Replace the secondary when nobody else is alive to become one, or once things had time to settle.
      const othersAlive = lineage.live().some((n) => n !== p.n && sampleOf(n, sinceMs)?.role !== 'primary' && sampleOf(n, sinceMs)?.role !== 'fenced');
      const pending = spawned && spawned.alive && now() - spawned.record.startMs < SPAWN_PENDING_MS;
      if (secondaries.length === 0 && !pending && (!othersAlive || now() >= spawnAfterMs) && spawns < SPAWNS_PER_FAULT_MAX && p.s.logListen) {
        spawns++;
        spawned = await lineage.startSecondary(p.s.logListen);
        o.print(`  supervisor: fresh secondary ${spawned.record.id} against ${p.n.record.id} (epoch ${p.s.epoch}, ${p.s.logListen})`);
      }
    }
    return null;
  };

  const main = async () => {
    const primary = await lineage.startPrimary();
    if (!primary.alive) throw new Error(`the first primary exited at start:\n${primary.record.outputTail}`);
    monitor.start();
    await lineage.startSecondary(lineage.logListenOf(primary));
    if ((await restore(0, now() + 30_000, Infinity)) === null) throw new Error('the first pair did not become protected within 30 s');
    const opening = await openingState(program, primary.record.url);
    load = new ChaosLoad({
      seed: o.seed,
      workload: workloadFor(program),
      targets: () => lineage.live().map((n) => ({ id: n.record.id, url: n.record.url })),
      rate: o.rate,
      concurrency: o.concurrency,
      requestTimeoutMs: REQUEST_TIMEOUT_MS,
      lateAnswerWindowMs: LATE_ANSWER_WINDOW_MS,
      giveUpAfterMs: GIVE_UP_AFTER_MS,
      now,
    });
    load.start();

    for (const fault of schedule) {
      if (o.durationMs !== undefined && now() > o.durationMs) {
        notes.push(`--duration reached: ${faults.length} of ${schedule.length} faults run`);
        break;
      }
      await sleep(fault.quietMs);
      // Normally at once; after a spontaneous failover during the quiet time, the supervisor repairs first.
      const readyAt = now();
      if ((await restore(readyAt, readyAt + o.reprotectMaxMs, readyAt + o.failureTimeoutMs * 2 + 500)) === null) {
        runViolations.push(violation('not-reprotected', `before fault ${fault.index}: the lineage was not protected by a caught-up secondary within ${o.reprotectMaxMs} ms`, readyAt));
        notes.push(`stopped before fault ${fault.index}: no protected pair to inject into`);
        break;
      }
      const p = currentPrimary(readyAt);
      const s = p && secondariesOf(p.s.epoch, readyAt)[0];
      if (!p || !s) throw new Error(`before fault ${fault.index}: the pair was protected a moment ago but is not now`);
      const record = await inject(fault, {
        lineage,
        disk,
        primary: p.n,
        secondary: s.n,
        now,
        failureTimeoutMs: o.failureTimeoutMs,
        hosts,
        waitForOtherPrimary: async (not, timeoutMs) => {
          const since = now();
          while (now() - since < timeoutMs) {
            await monitor.nextRound();
            const q = currentPrimary(since);
            if (q && q.n !== not) return true;
          }
          return false;
        },
        waitUnprotected: async (primary, timeoutMs) => {
          const since = now();
          while (now() - since < timeoutMs) {
            await monitor.nextRound();
            const q = sampleOf(primary, since);
            if (q && q.protection !== 'protected') return true;
          }
          return false;
        },
      });
      faults.push(record);
      record.reprotectedMs = await restore(record.healMs, record.startMs + o.reprotectMaxMs, record.healMs + o.failureTimeoutMs * 2 + 500);
      const took = record.reprotectedMs === null ? 'NOT re-protected' : `re-protected after ${Math.round(record.reprotectedMs - record.startMs)} ms`;
      o.print(`fault ${fault.index + 1}/${schedule.length} ${fault.kind}${fault.durationMs ? ` ${fault.durationMs} ms` : ''} on ${record.node}: ${took}${record.notes.length ? ` (${record.notes.join('; ')})` : ''}`);
      if (record.reprotectedMs === null) {
        notes.push(`stopped after fault ${fault.index}: the lineage was not protected again, so no further fault could be injected`);
        break;
      }
    }
    await load.stop();

    const p = currentPrimary(now() - 1000) ?? ((await restore(now(), now() + 10_000, now())) !== null ? currentPrimary(now() - 1000) : undefined);
    if (!p) {
      runViolations.push(violation('no-live-primary', 'after the run no node reported role primary: the final state could not be checked', now()));
    } else {
      final = await finalState(program, p.n.record.url, opening);
      await readBack(load, () => currentPrimary(now() - 1000)?.n ?? p.n, now, readback, runViolations);
    }
  };
  // Bounded: every fault can take its re-protection limit, plus start, drain and read-back.
  const runMsMax = schedule.length * (o.reprotectMaxMs + o.failureTimeoutMs * 4 + 5000) + 120_000 + (o.durationMs ?? 0);
  try {
    await withTimeout(main(), runMsMax, 'the chaos run (a harness hang)');
  } catch (error) {
    harnessError = error instanceof Error ? error.message : String(error);
    await withTimeout(load?.stop() ?? Promise.resolve(), CLEANUP_STEP_MS_MAX + GIVE_UP_AFTER_MS, 'stopping the load').catch(() => undefined);
  } finally {
    await withTimeout(monitor.stop(), CLEANUP_STEP_MS_MAX, 'stopping the status monitor').catch((e) => notes.push(String(e.message)));
    await withTimeout(lineage.closeAll(), CLEANUP_STEP_MS_MAX, 'killing the nodes').catch((e) => notes.push(String(e.message)));
    await disk?.unmount();
    await withTimeout(testbed?.destroy() ?? Promise.resolve(), CLEANUP_STEP_MS_MAX * 3, 'removing the testbed').catch((e) => notes.push(String(e.message)));
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  }

  const history: History = {
    answers: [...(load?.answers ?? []), ...readback],
    keys: load?.keys ?? [],
    samples: monitor.samples,
    nodes: lineage.nodes.map((n) => n.record),
    faults,
    endMs: now(),
  };
  const limits: LivenessLimits = { gapMaxMs: o.gapMaxMs, fencedExitGraceMs: FENCED_EXIT_GRACE_MS, stalePrimaryGraceMs: o.failureTimeoutMs * 2 + 1000 };
  const violations = [...runViolations, ...checkHistory(history, final, limits)];
  const summary = summarize({ seed: o.seed, program: o.program, kinds, faultsScheduled: schedule.length, history, violations, harnessError, notes, examplesPerKindMax: EXAMPLES_PER_KIND_MAX });
  o.print('');
  for (const line of formatSummary(summary)) o.print(line);
  return summary;
}

/** A run that never started (its testbed could not be built): a harness failure with an empty history. */
function reportSetupFailure(o: ChaosOptions, kinds: FaultKind[], faultsScheduled: number, notes: string[], harnessError: string, endMs: number): ChaosSummary {
  const history: History = { answers: [], keys: [], samples: [], nodes: [], faults: [], endMs };
  const summary = summarize({ seed: o.seed, program: o.program, kinds, faultsScheduled, history, violations: [], harnessError, notes, examplesPerKindMax: EXAMPLES_PER_KIND_MAX });
  o.print('');
  for (const line of formatSummary(summary)) o.print(line);
  return summary;
}

/** Asks every answered key again, with the same Idempotency-Key, of the primary of the moment: the answer must not have changed. */
export async function readBack(load: ChaosLoad, primary: () => ChaosNode, now: () => number, out: AnswerRecord[], violations: Violation[]): Promise<void> {
  const keys = load.keys.filter((k) => k.first).slice(0, READBACK_KEYS_MAX);
  let next = 0;
  let unanswered = 0;
  await Promise.all(
    Array.from({ length: READBACK_CONCURRENCY }, async () => {
      while (next < keys.length) {
        const k = keys[next++]!;
        let answered = false;
        for (let tries = 0; tries < 5 && !answered; tries++) {
          const node = primary();
          const target = { id: node.record.id, url: node.record.url };
          const outcome = await attempt(target, k, 5000, 0, now, 'readback', (late) => out.push(late));
          if (outcome.kind === 'answer') {
            out.push(outcome.answer);
            answered = true;
          } else await sleep(200 * (tries + 1));
        }
        if (!answered) unanswered++;
      }
    }),
  );
  if (unanswered > 0) violations.push(violation('readback-unanswered', `${unanswered} of ${keys.length} keys got no answer when asked again after the run`, now()));
}
