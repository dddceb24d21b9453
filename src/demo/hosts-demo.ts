// `lockstep demo --hosts`: a pair on two hosts (network namespaces) arbitrated by a 3-member etcd,
// under load; the link between the hosts is cut long enough for a failover, then healed; the node
// that lost the claim rejoins the winner; the winner's state is checked against every answer a
// client received. Needs root.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lineage, type ChaosNode } from '../chaos/lineage.js';
import { runLoad } from '../client/load-client.js';
import { createProgressPrinter, formatSummary } from '../client/progress.js';
import { makeWorkload } from '../client/workloads.js';
import { HostPlacement } from '../hosts/placement.js';
import { Testbed } from '../hosts/testbed.js';
import { workloadFor } from './demo.js';
import type { DemoUiOptions } from './demo-ui.js';
import { getJson } from './processes.js';
import { verifyState } from './verify.js';

/** The pair's timing and the load, as the other demos take them, and the partition. */
export type HostsDemoOptions = Pick<DemoUiOptions, 'program' | 'rate' | 'concurrency' | 'heartbeatMs' | 'failureTimeoutMs' | 'seed' | 'print'> & {
  /** When the cut starts, from the start of the load. */
  cutAfterMs: number;
  /** How long the hosts cannot reach each other (longer than the failure timeout: a failover). */
  cutForMs: number;
  durationMs: number;
  progress?: NodeJS.WritableStream & { isTTY?: boolean };
};

/** How long the pair may take to be protected again after the cut heals. */
const REJOIN_MS_MAX = 30_000;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

const statusOf = (node: ChaosNode) => getJson(`${node.record.url}/_lockstep/status`, 1000).catch(() => undefined);

/** Polls the two nodes until one is primary and protected by the other; resolves with [owner, follower]. */
async function protectedPair(nodes: ChaosNode[], timeoutMs: number): Promise<[ChaosNode, ChaosNode]> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const s = await Promise.all(nodes.map(statusOf));
    const owner = s.findIndex((x) => x?.role === 'primary' && x.protection === 'protected');
    if (owner >= 0 && s[1 - owner]?.role === 'secondary') return [nodes[owner]!, nodes[1 - owner]!];
    await sleep(100);
  }
  const said = nodes.map((n) => `--- ${n.record.id}:\n${n.record.outputTail.slice(-1500)}`).join('\n');
  throw new Error(`the pair was not protected within ${timeoutMs} ms:\n${said}`);
}

export async function runHostsDemo(o: HostsDemoOptions): Promise<boolean> {
  const { print } = o;
  const say = (line: string) => print(`  ${line}`);
  const testbed = await Testbed.create();
  const pairDir = await mkdtemp(join(tmpdir(), 'lockstep-demo-hosts-'));
  const common = ['--heartbeat-ms', String(o.heartbeatMs), '--failure-timeout-ms', String(o.failureTimeoutMs)];
  const t0 = Date.now();
  const placement = new HostPlacement(testbed, { program: o.program, pairDir, arbiterPrefix: 'demo', common, primaryExtra: [] });
  const lineage = new Lineage({ program: o.program, dir: pairDir, common, primaryExtra: [], now: () => Date.now() - t0, placement });
  try {
    const [a, b] = [testbed.host('a'), testbed.host('b')];
    print(`Lockstep demo on two hosts: ${o.program}`);
    say(`host a ${a.address} (namespace ${a.ns}), host b ${b.address} (namespace ${b.ns}), etcd ${testbed.etcd.url}`);
    print('1. a primary on host a and a secondary on host b, arbitrated by etcd');
    const primary = await lineage.startPrimary();
    const secondary = await lineage.startSecondary(lineage.logListenOf(primary));
    await protectedPair([primary, secondary], REJOIN_MS_MAX);
    say(`this process reaches them through a gateway in a client namespace: host a's node at ${primary.record.url}, host b's at ${secondary.record.url}`);
    say('the secondary replays the primary\'s log over the hosts\' link: the pair is protected');
    const before = o.program.endsWith('bank.js') ? (await getJson(`${primary.record.url}/total`)).total : undefined;

    print(`2. load: ${o.rate} req/s for ${o.durationMs / 1000}s against both nodes, each request with an Idempotency-Key; after ${o.cutAfterMs / 1000}s the hosts cannot reach each other for ${o.cutForMs / 1000}s (nftables drops on host a, both ways)`);
    const partition = (async () => {
      await sleep(o.cutAfterMs);
      await testbed.cutNodes('a', 'b', 'both');
      say('cut: hosts a and b cannot reach each other (both still reach etcd)');
      await sleep(o.cutForMs);
      await testbed.heal();
      say('healed');
    })();
    const printer = o.progress ? createProgressPrinter(o.progress as any) : undefined;
    const summary = await runLoad(
      { targets: [primary.record.url, secondary.record.url], rate: o.rate, durationMs: o.durationMs, concurrency: o.concurrency, workload: makeWorkload(workloadFor(o.program)), seed: o.seed, giveUpAfterMs: 15_000, requestTimeoutMs: 2000 },
      { onProgress: printer?.onProgress },
    );
    printer?.finish();
    await partition;

    print('3. after the cut healed:');
    const [owner, follower] = await protectedPair([primary, secondary], REJOIN_MS_MAX);
    const ownerStatus = await statusOf(owner);
    say(`${owner === primary ? 'the primary (host a)' : 'the secondary (host b)'} won epoch ${ownerStatus?.epoch} in etcd and serves; the other rejoined it as its secondary by itself`);
    print('4. what the clients saw:');
    for (const line of formatSummary(summary).split('\n')) say(line);
    print('5. checking the owner\'s state against every answer a client received:');
    const verdict = await verifyState(o.program, owner.record.url, summary, before);
    for (const line of verdict.lines) say(line);
    const ok = summary.lost === 0 && summary.duplicates === 0 && verdict.ok && follower.alive;
    print('');
    print(ok
      ? `RESULT: OK -- the hosts were cut apart mid-load and healed: ${summary.answered} answers, 0 lost, 0 duplicates, the pair protected again.`
      : `RESULT: FAILED -- ${[summary.lost ? `${summary.lost} lost` : '', summary.duplicates ? `${summary.duplicates} duplicate answers` : '', verdict.ok ? '' : 'the owner\'s state does not match what clients were told'].filter(Boolean).join('; ')}.`);
    return ok;
  } finally {
    await lineage.closeAll();
    await testbed.destroy();
    await rm(pairDir, { recursive: true, force: true });
  }
}
