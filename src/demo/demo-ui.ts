// `lockstep demo --ui`: the demo's pair under steady load, watched on the dashboard page, where
// the person presses Kill primary and Restart as secondary themselves. Loopback only: the page,
// the nodes and the buttons. Runs until SIGINT/SIGTERM.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runLoad, type LoadProgress } from '../client/load-client.js';
import { makeWorkload, type WorkloadName } from '../client/workloads.js';
import { startDashboard, type Dashboard } from '../dashboard/dashboard-server.js';
import { freePort, spawnNode, status, waitForStatus, type NodeProcess } from './processes.js';

/** The load runs in rounds this long, so it can stop between two rounds without losing keys. */
export const LOAD_ROUND_MS = 1000;
/** A key unanswered this long is counted lost (a failover takes about the failure timeout). */
export const UI_GIVE_UP_MS = 10_000;
const LOOPBACK = '127.0.0.1';

export interface DemoUiOptions {
  program: string;
  workload: WorkloadName;
  uiPort: number;
  rate: number;
  concurrency: number;
  heartbeatMs: number;
  failureTimeoutMs: number;
  seed?: number;
  print: (line: string) => void;
  /** Resolves when the person wants to stop (SIGINT by default). */
  until?: Promise<unknown>;
}

interface Slot {
  port: number;
  url: string;
  node: NodeProcess;
}

interface LoadTotals {
  rounds: number;
  sent: number;
  answered: number;
  retried: number;
  lost: number;
  duplicates: number;
}

export async function runDemoUi(options: DemoUiOptions): Promise<number> {
  const { print } = options;
  const dir = await mkdtemp(join(tmpdir(), 'lockstep-demo-ui-'));
  const common = ['--dir', dir, '--heartbeat-ms', String(options.heartbeatMs), '--failure-timeout-ms', String(options.failureTimeoutMs)];
  const [portA, portB, logA] = await Promise.all([freePort(), freePort(), freePort()]);
  const slots: Slot[] = [];
  let stopping = false;
  const spawnIn = (port: number, role: 'primary' | 'secondary', extra: string[]): Slot => {
    const node = spawnNode(`${role} :${port}`, [role, options.program, '--host', LOOPBACK, '--port', String(port), ...extra, ...common], port);
    // Say why a node ended that nobody killed from the page (fenced, diverged, crashed).
    void node.exited.then((code) => {
      if (!stopping && node.child.signalCode !== 'SIGKILL') print(`${node.name} exited with code ${code}; its last lines:\n${node.output().split('\n').slice(-8).join('\n')}`);
    });
    return { port, url: `http://${LOOPBACK}:${port}`, node };
  };
  slots.push(spawnIn(portA, 'primary', ['--log-listen', `${LOOPBACK}:${logA}`]));
  slots.push(spawnIn(portB, 'secondary', ['--primary', `ws://${LOOPBACK}:${logA}`, '--log-listen', `${LOOPBACK}:0`]));
  let dashboard: Dashboard | undefined;
  const totals: LoadTotals = { rounds: 0, sent: 0, answered: 0, retried: 0, lost: 0, duplicates: 0 };
  let round: LoadProgress | undefined;
  /** The rate and target shown between two rounds too. */
  let lastProgress: LoadProgress | undefined;
  let loadDone: Promise<void> = Promise.resolve();
  try {
    print(`Lockstep demo with a live page: ${options.program}, shared dir ${dir}`);
    await waitForStatus(slots[0].node, (s) => s.protection === 'protected', 15_000, 'protected by the secondary');
    await waitForStatus(slots[1].node, (s) => s.replayedSeq >= 1, 15_000, 'replaying'); // its replay engine is up

    const livePrimary = () => dashboard?.state().nodes.find((n) => n.up && n.role === 'primary');
    dashboard = await startDashboard({
      targets: slots.map((s) => s.url),
      host: LOOPBACK,
      port: options.uiPort,
      title: 'Lockstep demo',
      extra: () => ({ load: { ...sum(totals, round), answersPerS: lastProgress?.answersPerS ?? 0, currentTarget: lastProgress?.currentTarget ?? '' } }),
      actions: {
        killPrimary: async () => {
          const primary = livePrimary();
          const slot = slots.find((s) => s.url === primary?.url && !s.node.child.killed && s.node.child.exitCode === null);
          if (!slot) throw new Error('no live primary to kill right now');
          slot.node.kill('SIGKILL');
          dashboard!.note(slot.url, 'killed', 'primary killed with SIGKILL (from the page)');
          return `SIGKILL sent to the primary on :${slot.port} (pid ${slot.node.child.pid})`;
        },
        restartSecondary: async () => {
          const primary = livePrimary();
          if (!primary) throw new Error('no live primary to follow yet; wait for the survivor to go live');
          const dead = slots.findIndex((s) => s.node.child.exitCode !== null || s.node.child.signalCode !== null);
          if (dead < 0) throw new Error('both nodes are running; kill the primary first');
          const primaryStatus = await status(primary);
          if (typeof primaryStatus.logListen !== 'string') throw new Error('the primary does not say where a secondary connects (logListen)');
          slots[dead] = spawnIn(slots[dead].port, 'secondary', ['--primary', `ws://${primaryStatus.logListen}`, '--log-listen', `${LOOPBACK}:0`]);
          dashboard!.note(slots[dead].url, 'restarted', `a fresh secondary started, following ws://${primaryStatus.logListen}`);
          return `a fresh secondary is starting on :${slots[dead].port}; it replays the survivor's whole log`;
        },
      },
    });
    print(`dashboard on ${dashboard.url} -- open it, press "Kill primary", then "Restart as secondary" (Ctrl-C to stop)`);
    openBrowser(dashboard.url);

    loadDone = (async () => {
      while (!stopping) {
        const first = livePrimary()?.url;
        const targets = first ? [first, ...slots.map((s) => s.url).filter((u) => u !== first)] : slots.map((s) => s.url);
        const summary = await runLoad(
          { targets, rate: options.rate, concurrency: options.concurrency, durationMs: LOAD_ROUND_MS, workload: makeWorkload(options.workload), seed: options.seed === undefined ? undefined : options.seed + totals.rounds, giveUpAfterMs: UI_GIVE_UP_MS, requestTimeoutMs: 2000 },
          { onProgress: (p) => (round = lastProgress = p) },
        );
        round = undefined;
        totals.rounds++;
        totals.sent += summary.sent;
        totals.answered += summary.answered;
        totals.retried += summary.retried;
        totals.lost += summary.lost;
        totals.duplicates += summary.duplicates;
      }
    })();
    await (options.until ?? new Promise((resolve) => (process.once('SIGINT', resolve), process.once('SIGTERM', resolve))));
    stopping = true;
    await loadDone; // the current round drains while the nodes still run
    print(`load: ${totals.sent} keys sent, ${totals.answered} answered, ${totals.retried} retried, ${totals.lost} lost, ${totals.duplicates} duplicates`);
    return totals.lost === 0 && totals.duplicates === 0 ? 0 : 1;
  } finally {
    stopping = true;
    await dashboard?.close();
    for (const slot of slots) slot.node.kill('SIGKILL');
    await Promise.all(slots.map((s) => Promise.race([s.node.exited, new Promise((r) => setTimeout(r, 2000))])));
    await rm(dir, { recursive: true, force: true });
  }
}

function sum(totals: LoadTotals, round: LoadProgress | undefined): Omit<LoadTotals, 'rounds'> {
  return {
    sent: totals.sent + (round?.sent ?? 0),
    answered: totals.answered + (round?.answered ?? 0),
    retried: totals.retried + (round?.retried ?? 0),
    lost: totals.lost + (round?.lost ?? 0),
    duplicates: totals.duplicates + (round?.duplicates ?? 0),
  };
}

/** On a desktop, open the page; on a headless machine the printed URL is enough. */
function openBrowser(url: string): void {
  if (process.platform !== 'linux' || !(process.env.DISPLAY || process.env.WAYLAND_DISPLAY)) return;
  const child = spawn('xdg-open', [url], { stdio: 'ignore', detached: true });
  child.on('error', () => undefined);
  child.unref();
}
