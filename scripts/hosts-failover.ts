// Failover over a namespace link beside loopback: SIGKILL of the primary under load, alternating a
// pair on two network namespaces arbitrated by a 3-member etcd (`lockstep chaos --hosts`'s
// testbed) with a pair on loopback (file arbiter, the chaos lineage's pass-through link proxy).
// Per trial: failure detected, claim won, live (the survivor's timeline, ms after the kill), the
// longest client gap, lost and duplicate keys. Needs root and `npm run build` first.
// Usage: npx tsx scripts/hosts-failover.ts [--trials 10] [--heartbeat-ms N] [--failure-timeout-ms N] [--rate 100]
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clientGapAfter } from '../src/bench/failover.js';
import { Lineage, type ChaosNode } from '../src/chaos/lineage.js';
import { latencyStats, runLoad } from '../src/client/load-client.js';
import { makeWorkload } from '../src/client/workloads.js';
import { getJson } from '../src/demo/processes.js';
import { HostPlacement } from '../src/hosts/placement.js';
import { Testbed } from '../src/hosts/testbed.js';
import { FAILURE_TIMEOUT_MS_DEFAULT, HEARTBEAT_INTERVAL_MS_DEFAULT } from '../src/channel/channel-server.js';

const args = process.argv.slice(2);
const arg = (name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const trials = arg('trials', 10);
const timing = ['--heartbeat-ms', String(arg('heartbeat-ms', HEARTBEAT_INTERVAL_MS_DEFAULT)), '--failure-timeout-ms', String(arg('failure-timeout-ms', FAILURE_TIMEOUT_MS_DEFAULT))];
const rate = arg('rate', 100);
const KILL_AFTER_MS = 2000;
const AFTER_KILL_MS = 3000;
const program = new URL('../guest-programs/counter.js', import.meta.url).pathname;

type Mode = 'namespaces+etcd' | 'loopback+file';
interface Trial { mode: Mode; detectionMs: number; claimWonMs: number; liveMs: number; clientGapMs: number; lost: number; duplicates: number }

const statusOf = (n: ChaosNode) => getJson(`${n.record.url}/_lockstep/status`, 1000).catch(() => undefined);

async function trial(mode: Mode, testbed: Testbed, n: number): Promise<Trial> {
  const dir = await mkdtemp(join(tmpdir(), 'lockstep-failover-hosts-'));
  const placement = mode === 'namespaces+etcd' ? new HostPlacement(testbed, { program, pairDir: dir, arbiterPrefix: `failover-${n}`, common: timing, primaryExtra: [] }) : undefined;
  const t0 = Date.now();
  const lineage = new Lineage({ program, dir, common: timing, primaryExtra: [], now: () => Date.now() - t0, placement });
  try {
    const primary = await lineage.startPrimary();
    const secondary = await lineage.startSecondary(lineage.logListenOf(primary));
    for (let i = 0; (await statusOf(primary))?.protection !== 'protected'; i++) {
      if (i > 300) throw new Error(`${mode}: the pair was not protected within 30 s`);
      await new Promise((r) => setTimeout(r, 100));
    }
    let killedAt = 0;
    const answerTimes: number[] = [];
    const killer = setTimeout(() => {
      killedAt = Date.now();
      lineage.signal(primary, 'SIGKILL');
    }, KILL_AFTER_MS);
    const summary = await runLoad(
      { targets: [primary.record.url, secondary.record.url], rate, concurrency: 8, durationMs: KILL_AFTER_MS + AFTER_KILL_MS, workload: makeWorkload('counter'), requestTimeoutMs: 2000, giveUpAfterMs: 10_000, lateAnswerWindowMs: 500 },
      { onAnswer: (a) => void (a.first && answerTimes.push(Date.now())) },
    );
    clearTimeout(killer);
    const timeline = ((await statusOf(secondary))?.timeline ?? {}) as Record<string, number>;
    const after = (t: number | undefined) => (t ? t - killedAt : NaN);
    return { mode, detectionMs: after(timeline['failure-detected']), claimWonMs: after(timeline['claim-won']), liveMs: after(timeline.live), clientGapMs: clientGapAfter(answerTimes, killedAt), lost: summary.lost, duplicates: summary.duplicates };
  } finally {
    await lineage.closeAll();
    await rm(dir, { recursive: true, force: true });
  }
}

const testbed = await Testbed.create();
const results: Trial[] = [];
try {
  for (let i = 0; i < trials * 2; i++) {
    const t = await trial(i % 2 === 0 ? 'namespaces+etcd' : 'loopback+file', testbed, i);
    results.push(t);
    console.log(`${t.mode.padEnd(16)} detected ${t.detectionMs} ms, claim won ${t.claimWonMs} ms, live ${t.liveMs} ms, client gap ${t.clientGapMs} ms, lost ${t.lost}, duplicates ${t.duplicates}`);
  }
} finally {
  await testbed.destroy();
}
console.log(`\n${trials} SIGKILL trials per mode, ${timing.join(' ')}, ${rate} req/s counter.js (ms after the kill: p50 / p99 / max)`);
for (const mode of ['namespaces+etcd', 'loopback+file'] as const) {
  const mine = results.filter((r) => r.mode === mode);
  const show = (pick: (t: Trial) => number) => {
    const s = latencyStats(mine.map(pick).filter((x) => !Number.isNaN(x)));
    return `${Math.round(s.p50Ms)} / ${Math.round(s.p99Ms)} / ${Math.round(s.maxMs)}`;
  };
  console.log(`${mode.padEnd(16)} detected ${show((t) => t.detectionMs)}; claim won ${show((t) => t.claimWonMs)}; live ${show((t) => t.liveMs)}; client gap ${show((t) => t.clientGapMs)}; lost ${mine.reduce((s, t) => s + t.lost, 0)}, duplicates ${mine.reduce((s, t) => s + t.duplicates, 0)}`);
}
process.exit(0);
