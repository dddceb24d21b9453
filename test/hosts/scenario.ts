// One pair on the two hosts of a testbed under keyed load (the chaos engine's parts: lineage,
// status monitor, idempotent retried load, read-back, checkers), with a test's fault in the
// middle. The result holds what the checkers found and what clients and the monitor saw, for the
// row-specific assertions of each test.
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { readBack } from '../../src/chaos/chaos.js';
import { checkHistory, type Violation } from '../../src/chaos/checkers.js';
import { ChaosLoad } from '../../src/chaos/client.js';
import { finalState, workloadFor } from '../../src/chaos/guest-state.js';
import type { AnswerRecord, History, StatusSample } from '../../src/chaos/history.js';
import { Lineage, type ChaosNode } from '../../src/chaos/lineage.js';
import { Monitor } from '../../src/chaos/monitor.js';
import { HostPlacement } from '../../src/hosts/placement.js';
import type { Testbed } from '../../src/hosts/testbed.js';
import { COUNTER, sleep, status } from '../replication/helpers.js';

export interface ScenarioTiming {
  heartbeatMs: number;
  failureTimeoutMs: number;
}

/** What a test's fault can use while the load runs. */
export interface Scene {
  testbed: Testbed;
  lineage: Lineage;
  monitor: Monitor;
  /** The first pair: the primary on host a, its secondary on host b. */
  primary: ChaosNode;
  secondary: ChaosNode;
  /** ms since the scenario started (the clock of every record). */
  now(): number;
  /** The newest status sample of `node` taken at or after `sinceMs`. */
  sample(node: ChaosNode, sinceMs?: number): StatusSample | undefined;
  /** Polls the monitor until `check` holds; throws with the nodes' output when it does not within `timeoutMs`. */
  waitFor(what: string, check: () => boolean, timeoutMs?: number): Promise<void>;
  /** Answers (200) clients got with doneMs in [fromMs, toMs). */
  answersBetween(fromMs: number, toMs: number): AnswerRecord[];
}

export interface ScenarioResult {
  /** Correctness violations, and keys that no node answered (never timing). */
  violations: Violation[];
  answers: AnswerRecord[];
  samples: StatusSample[];
  nodes: ChaosNode[];
  keysSent: number;
}

/** Waits are bounded generously: a loaded 2-core machine is slow, and these tests judge outcomes, not speed. */
const WAIT_MS_DEFAULT = 30_000;
const LOAD = { rate: 40, concurrency: 4, requestTimeoutMs: 2000, lateAnswerWindowMs: 3000, giveUpAfterMs: 30_000 };

const protectedBy = (s: Scene, primary: ChaosNode, secondary: ChaosNode, sinceMs = 0) =>
  s.sample(primary, sinceMs)?.protection === 'protected' && s.sample(secondary, sinceMs)?.role === 'secondary' && (s.sample(secondary, sinceMs)?.replayedSeq ?? 0) >= 1;

/** The node that reports primary in the highest epoch now, if any. */
export function currentPrimary(s: Scene, sinceMs: number): ChaosNode | undefined {
  const live = s.lineage.live().filter((n) => s.sample(n, sinceMs)?.role === 'primary');
  return live.sort((a, b) => s.sample(b)!.epoch - s.sample(a)!.epoch)[0];
}

/** Waits until some primary is protected by a secondary that replays (after a fault: the pair healed). */
export async function waitProtected(s: Scene, what: string, timeoutMs = WAIT_MS_DEFAULT): Promise<{ primary: ChaosNode; secondary: ChaosNode }> {
  const since = s.now();
  let pair: { primary: ChaosNode; secondary: ChaosNode } | undefined;
  await s.waitFor(what, () => {
    const primary = currentPrimary(s, since);
    const secondary = primary && s.lineage.live().find((n) => n !== primary && protectedBy(s, primary, n, since));
    pair = primary && secondary ? { primary, secondary } : undefined;
    return pair !== undefined;
  }, timeoutMs);
  return pair!;
}

/** The arbiter part of a node's status (kind, endpoints, reachable, lease, token), if it answers. */
export async function arbiterOf(node: ChaosNode): Promise<{ reachable?: boolean | null } | undefined> {
  return (await status(node.record.url, 2000))?.arbiter as { reachable?: boolean | null } | undefined;
}

/** Highest epoch any node reported. */
export const highestEpoch = (samples: StatusSample[]) => samples.reduce((m, x) => Math.max(m, x.epoch), 0);

export async function runScenario(testbed: Testbed, timing: ScenarioTiming, fault: (scene: Scene) => Promise<void>): Promise<ScenarioResult> {
  const t0 = performance.now();
  const now = () => performance.now() - t0;
  const common = ['--heartbeat-ms', String(timing.heartbeatMs), '--failure-timeout-ms', String(timing.failureTimeoutMs)];
  const name = `pair-${randomBytes(4).toString('hex')}`;
  const pairDir = join(testbed.runDir, name);
  await mkdir(pairDir);
  const placement = new HostPlacement(testbed, { program: COUNTER, pairDir, arbiterPrefix: name, common, primaryExtra: [] });
  const lineage = new Lineage({ program: COUNTER, dir: pairDir, common, primaryExtra: [], now, placement });
  const monitor = new Monitor(() => lineage.nodes, now);
  let load: ChaosLoad | undefined;
  try {
    monitor.start();
    const primary = await lineage.startPrimary();
    const secondary = await lineage.startSecondary(lineage.logListenOf(primary));
    const scene = sceneOf(testbed, lineage, monitor, primary, secondary, now, () => load?.answers ?? []);
    await scene.waitFor('the first pair protected', () => protectedBy(scene, primary, secondary));
    load = new ChaosLoad({ seed: 21, workload: workloadFor(COUNTER), targets: () => lineage.live().map((n) => ({ id: n.record.id, url: n.record.url })), now, ...LOAD });
    load.start();
    await sleep(1000);
    await fault(scene);
    await sleep(1000);
    await load.stop();
    return await judge(scene, load);
  } finally {
    await load?.stop();
    await monitor.stop();
    await lineage.closeAll();
    await testbed.heal();
    await testbed.etcd.restartDead();
  }
}

function sceneOf(testbed: Testbed, lineage: Lineage, monitor: Monitor, primary: ChaosNode, secondary: ChaosNode, now: () => number, answers: () => AnswerRecord[]): Scene {
  const scene: Scene = {
    testbed,
    lineage,
    monitor,
    primary,
    secondary,
    now,
    sample: (node, sinceMs = 0) => {
      const s = monitor.latest.get(node.record.id);
      return s && s.tMs >= sinceMs && node.alive ? s : undefined;
    },
    async waitFor(what, check, timeoutMs = WAIT_MS_DEFAULT) {
      const deadline = now() + timeoutMs;
      while (!check()) {
        if (now() > deadline) {
          const said = lineage.nodes.map((n) => `--- ${n.record.id} (${n.record.args.slice(0, 2).join(' ')}, ${n.alive ? 'alive' : `exit ${n.record.exitCode ?? n.record.exitSignal}`}):\n${n.record.outputTail.slice(-1500)}`).join('\n');
          throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}\n${said}`);
        }
        await monitor.nextRound();
      }
    },
    answersBetween: (fromMs, toMs) => answers().filter((a) => a.status === 200 && a.doneMs >= fromMs && a.doneMs < toMs),
  };
  return scene;
}

/** Reads every answered key back from the primary of the moment, then runs the checkers. */
async function judge(scene: Scene, load: ChaosLoad): Promise<ScenarioResult> {
  const since = scene.now();
  await scene.waitFor('a node reporting role primary at the end', () => currentPrimary(scene, since) !== undefined);
  const primary = currentPrimary(scene, since)!;
  const readback: AnswerRecord[] = [];
  const runViolations: Violation[] = [];
  await readBack(load, () => currentPrimary(scene, scene.now() - 1000) ?? primary, scene.now, readback, runViolations);
  const final = await finalState(COUNTER, primary.record.url, undefined);
  const history: History = { answers: [...load.answers, ...readback], keys: load.keys, samples: scene.monitor.samples, nodes: scene.lineage.nodes.map((n) => n.record), faults: [], endMs: scene.now() };
  const limits = { gapMaxMs: Infinity, fencedExitGraceMs: Infinity, stalePrimaryGraceMs: 10_000 };
  const found = [...runViolations, ...checkHistory(history, final, limits)];
  return {
    violations: found.filter((v) => v.class === 'correctness' || v.kind === 'keys-given-up' || v.kind === 'readback-unanswered'),
    answers: history.answers,
    samples: history.samples,
    nodes: scene.lineage.nodes,
    keysSent: load.keys.length,
  };
}
