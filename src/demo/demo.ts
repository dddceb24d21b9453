// `lockstep demo`: a real pair of child processes under load, a real SIGKILL of the primary, a
// timeline of the failover, and a check of the survivor's state against what clients were told.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { runLoad, type LoadSummary } from '../client/load-client.js';
import { createProgressPrinter, formatSummary } from '../client/progress.js';
import { makeWorkload, type WorkloadName } from '../client/workloads.js';
import { freePort, getJson, spawnNode, status, waitForStatus, type NodeProcess } from './processes.js';
import { verifyState } from './verify.js';

export interface DemoOptions {
  program: string;
  killAfterMs: number;
  durationMs: number;
  outputGate: boolean;
  respawn: boolean;
  rate: number;
  concurrency: number;
  heartbeatMs: number;
  failureTimeoutMs: number;
  /** Fault injection: the primary ships its log this late, like a slow logging link. */
  channelDelayMs: number;
  seed?: number;
  print: (line: string) => void;
  progress?: NodeJS.WritableStream & { isTTY?: boolean };
}

export interface DemoResult {
  ok: boolean;
  summary: LoadSummary;
  timeline: Record<string, number | null>;
  verdict: string[];
  respawned: boolean;
}

export function workloadFor(program: string): WorkloadName {
  const name = basename(program, '.js');
  return name === 'bank' || name === 'kv' || name === 'echo' || name === 'shortener' ? name : 'counter';
}

export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const { print } = options;
  const dir = await mkdtemp(join(tmpdir(), 'lockstep-demo-'));
  const [primaryPort, secondaryPort, logPort, secondLogPort, respawnPort] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
  const common = ['--dir', dir, '--heartbeat-ms', String(options.heartbeatMs), '--failure-timeout-ms', String(options.failureTimeoutMs)];
  const nodes: NodeProcess[] = [];
  const say = (line: string) => print(`  ${line}`);
  try {
    print(`Lockstep demo: ${options.program}, shared dir ${dir}`);
    print(`1. starting a primary (:${primaryPort}) and a secondary (:${secondaryPort}) as separate processes${options.outputGate ? '' : ' -- WITHOUT the output gate'}`);
    const primary = spawnNode('primary', ['primary', options.program, '--port', String(primaryPort), '--log-listen', `127.0.0.1:${logPort}`, ...common, ...(options.outputGate ? [] : ['--no-output-gate']), ...(options.channelDelayMs > 0 ? ['--channel-delay-ms', String(options.channelDelayMs)] : [])], primaryPort);
    nodes.push(primary);
    const secondary = spawnNode('secondary', ['secondary', options.program, '--port', String(secondaryPort), '--primary', `ws://127.0.0.1:${logPort}`, '--log-listen', `127.0.0.1:${secondLogPort}`, ...common], secondaryPort);
    nodes.push(secondary);
    await waitForStatus(primary, (s) => s.protection === 'protected', 15_000, 'protected by the secondary');
    say('the secondary is attached and replaying the primary\'s log: the pair is protected');
    const before = options.program.endsWith('bank.js') ? (await getJson(`${primary.url}/total`)).total : undefined;

    print(`2. load: ${options.rate} req/s for ${options.durationMs / 1000}s against both nodes, each with an Idempotency-Key; the primary is killed after ${options.killAfterMs / 1000}s`);
    let killedAtMs = 0;
    let firstAnswerAfterKillMs: number | null = null;
    const killer = setTimeout(() => {
      killedAtMs = Date.now();
      primary.kill('SIGKILL');
    }, options.killAfterMs);
    if (options.channelDelayMs > 0) say(`(fault injection: the primary ships its log ${options.channelDelayMs} ms late, like a slow logging link)`);
    const printer = options.progress ? createProgressPrinter(options.progress as any) : undefined;
    const summary = await runLoad(
      {
        targets: [primary.url, secondary.url],
        rate: options.rate,
        durationMs: options.durationMs,
        concurrency: options.concurrency,
        workload: makeWorkload(workloadFor(options.program)),
        seed: options.seed,
        giveUpAfterMs: 15_000,
        requestTimeoutMs: 2000,
      },
      {
        onProgress: printer?.onProgress,
        onAnswer: (answer) => {
          if (killedAtMs && firstAnswerAfterKillMs === null && Date.now() > killedAtMs && answer.target === secondary.url) firstAnswerAfterKillMs = Date.now();
        },
      },
    );
    clearTimeout(killer);
    printer?.finish();
    const exitCode = await Promise.race([primary.exited, new Promise((r) => setTimeout(() => r('running'), 100))]);
    let survivor: any;
    try {
      survivor = await status(secondary);
    } catch (error) {
      print(`the secondary is not answering (${error instanceof Error ? error.message : error}); its last output:`);
      for (const line of secondary.output().split('\n').slice(-15)) say(line);
      survivor = { role: 'dead', timeline: {} };
    }
    const t = survivor.timeline ?? {};
    const rel = (at: number | undefined | null) => (at && killedAtMs ? at - killedAtMs : null);
    const timeline = {
      killedAtMs: 0,
      failureDetectedMs: rel(t['failure-detected']),
      claimWonMs: rel(t['claim-won']),
      liveMs: rel(t.live),
      firstAnswerAfterKillMs: rel(firstAnswerAfterKillMs),
    };
    print('3. timeline (ms after the SIGKILL of the primary):');
    say(`primary killed          0   (exit: ${exitCode === null ? 'SIGKILL' : exitCode})`);
    say(`failure detected   ${fmt(timeline.failureDetectedMs)}`);
    say(`claim won          ${fmt(timeline.claimWonMs)}   (O_EXCL create of claims/epoch-${survivor.epoch})`);
    say(`secondary live     ${fmt(timeline.liveMs)}   (role now: ${survivor.role})`);
    say(`first answer after ${fmt(timeline.firstAnswerAfterKillMs)}`);

    print('4. what the clients saw:');
    for (const line of formatSummary(summary).split('\n')) say(line);

    print(`5. checking the survivor's state against every answer a client received:`);
    const verdict = survivor.role === 'dead' ? { ok: false, lines: ['no survivor to check'] } : await verifyState(options.program, secondary.url, summary, before);
    for (const line of verdict.lines) say(line);

    let respawned = false;
    if (options.respawn && survivor.role === 'primary') {
      print(`6. --respawn: a fresh secondary (:${respawnPort}) joins the survivor and replays its whole log`);
      const fresh = spawnNode('fresh secondary', ['secondary', options.program, '--port', String(respawnPort), '--primary', `ws://127.0.0.1:${secondLogPort}`, '--log-listen', '127.0.0.1:0', ...common], respawnPort);
      nodes.push(fresh);
      const protectedAgain = await waitForStatus(secondary, (s) => s.protection === 'protected', 15_000, 'protected again');
      const caughtUp = await waitForStatus(fresh, (s) => s.replayedSeq >= protectedAgain.lastSeq, 15_000, 'caught up');
      say(`protection restored: the fresh secondary replayed ${caughtUp.replayedSeq} entries (epoch ${protectedAgain.epoch})`);
      respawned = true;
    }

    const ok = summary.lost === 0 && summary.duplicates === 0 && verdict.ok && survivor.role === 'primary';
    print('');
    print(
      ok
        ? `RESULT: OK -- the primary was killed mid-load and nothing was lost: ${summary.answered} answers, 0 lost, 0 duplicates, failover in ${fmt(timeline.liveMs).trim()} ms.`
        : `RESULT: FAILED -- ${[summary.lost ? `${summary.lost} lost` : '', summary.duplicates ? `${summary.duplicates} duplicate answers` : '', verdict.ok ? '' : 'the survivor\'s state does not match what clients were told', survivor.role !== 'primary' ? 'the secondary did not go live' : ''].filter(Boolean).join('; ')}.`,
    );
    if (!options.outputGate) print('(--no-output-gate: the primary answered clients before the secondary had the log of those answers.)');
    return { ok, summary, timeline, verdict: verdict.lines, respawned };
  } finally {
    for (const node of nodes) node.kill('SIGKILL');
    await Promise.all(nodes.map((n) => Promise.race([n.exited, new Promise((r) => setTimeout(r, 2000))])));
    await rm(dir, { recursive: true, force: true });
  }
}

function fmt(ms: number | null): string {
  return ms === null ? '   n/a' : String(Math.round(ms)).padStart(6);
}
