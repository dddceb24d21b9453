// Re-protection benchmark (issue 9): how long a fresh secondary takes to make its primary
// `protected` after 10 k entries of history and after 1 M, side by side, interleaved and repeated
// (medians), plus 1 M with checkpoints off for contrast. Not part of the test suite. Build first
// (`npm run build`), then:
//   npx tsx scripts/reprotect-bench.ts [--reps 3] [--histories 10000,1000000] [--no-baseline]
// The history is made by the clock-heavy bench guest (51 entries a request) under autocannon.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { describeMachine, formatMachine } from '../src/bench/machine.js';
import { detectPinning, type Pinning } from '../src/bench/pinning.js';
import { freePort, GUEST_PROGRAMS_DIR, startLockstep, stopChild, waitReady } from '../src/bench/processes.js';

const { values } = parseArgs({
  options: {
    reps: { type: 'string', default: '3' },
    histories: { type: 'string', default: '10000,1000000' },
    baseline: { type: 'boolean', default: true },
  },
  allowNegative: true,
});

const PROGRAM = join(GUEST_PROGRAMS_DIR, 'bench-clock.js');
const ENTRIES_PER_REQUEST = 51;
const CHECKPOINTS_OFF = ['--checkpoint-every-entries', '0', '--checkpoint-every-bytes', '0', '--checkpoint-every-ms', '0'];

interface Configuration {
  name: string;
  history: number;
  primaryArgs: string[];
}

interface Run {
  spawnToProtectedMs: number;
  attachToProtectedMs: number;
  restoredFromSeq: number;
  lastSeq: number;
  checkpointBytes: number | null;
}

async function status(url: string): Promise<Record<string, any> | undefined> {
  try {
    return (await (await fetch(`${url}/_lockstep/status`)).json()) as Record<string, any>;
  } catch {
    return undefined;
  }
}

async function makeHistory(url: string, entries: number): Promise<void> {
  // Whole requests until the log is at least this long (a few requests more than needed is fine).
  while (((await status(url))?.lastSeq ?? 0) < entries) {
    const missing = entries - ((await status(url))?.lastSeq ?? 0);
    await autocannon({ url, connections: 8, amount: Math.max(8, Math.ceil(missing / ENTRIES_PER_REQUEST)) });
  }
}

async function once(pinning: Pinning, configuration: Configuration): Promise<Run> {
  const dir = await mkdtemp(join(tmpdir(), 'lockstep-reprotect-'));
  const [port, logPort, secondaryPort] = [await freePort(), await freePort(), await freePort()];
  const url = `http://127.0.0.1:${port}`;
  const primary = startLockstep(pinning, 'node', ['primary', PROGRAM, '--dir', dir, '--port', String(port), '--log-listen', `127.0.0.1:${logPort}`, ...configuration.primaryArgs]);
  let secondary: ReturnType<typeof startLockstep> | undefined;
  try {
    await waitReady(primary, url, 'primary');
    await makeHistory(url, configuration.history);
    await new Promise((r) => setTimeout(r, 1000)); // the newest checkpoint's encoding finishes off the event loop
    const spawned = performance.now();
    secondary = startLockstep(pinning, 'secondary', ['secondary', PROGRAM, '--dir', dir, '--port', String(secondaryPort), '--primary', `ws://127.0.0.1:${logPort}`, '--log-listen', '127.0.0.1:0']);
    let s: Record<string, any> | undefined;
    for (;;) {
      s = await status(url);
      if (s?.protection === 'protected') break;
      if (secondary.process.exitCode !== null) throw new Error(`the secondary exited: ${secondary.stderr()}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    const spawnToProtectedMs = performance.now() - spawned;
    const times = s.timeline as Record<string, number>;
    const sec = await status(`http://127.0.0.1:${secondaryPort}`);
    return {
      spawnToProtectedMs,
      attachToProtectedMs: times.protected - times.attach,
      restoredFromSeq: sec?.restoredFromSeq ?? 0,
      lastSeq: s.lastSeq,
      checkpointBytes: s.checkpointBytes ?? null,
    };
  } finally {
    await Promise.all([stopChild(primary), secondary ? stopChild(secondary) : undefined]);
    await rm(dir, { recursive: true, force: true });
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const pinning = detectPinning();
  const reps = Number(values.reps);
  const histories = values.histories.split(',').map(Number);
  console.log(`machine: ${formatMachine(describeMachine())}`);
  console.log(`pinning: ${pinning.description}`);
  const configurations: Configuration[] = histories.map((history) => ({ name: `${history} entries, checkpoints on (defaults)`, history, primaryArgs: [] }));
  if (values.baseline) {
    const longest = Math.max(...histories);
    configurations.push({ name: `${longest} entries, checkpoints off (replay from #1)`, history: longest, primaryArgs: CHECKPOINTS_OFF });
  }
  const runs = new Map<string, Run[]>(configurations.map((c) => [c.name, []]));
  for (let rep = 0; rep < reps; rep++) {
    for (const configuration of configurations) {
      if (configuration.primaryArgs === CHECKPOINTS_OFF && rep > 0) continue; // once is enough to show the contrast
      const run = await once(pinning, configuration);
      runs.get(configuration.name)!.push(run);
      console.log(`rep ${rep + 1} ${configuration.name}: spawn -> protected ${run.spawnToProtectedMs.toFixed(0)} ms (attach -> protected ${run.attachToProtectedMs.toFixed(0)} ms), restored from #${run.restoredFromSeq} of #${run.lastSeq}`);
    }
  }
  console.log('\n| history | runs | spawn -> protected (median) | attach -> protected (median) | restored from checkpoint after | checkpoint bytes |');
  console.log('|---|---|---|---|---|---|');
  for (const configuration of configurations) {
    const rs = runs.get(configuration.name)!;
    console.log(
      `| ${configuration.name} | ${rs.length} | ${median(rs.map((r) => r.spawnToProtectedMs)).toFixed(0)} ms | ${median(rs.map((r) => r.attachToProtectedMs)).toFixed(0)} ms | ` +
        `#${median(rs.map((r) => r.restoredFromSeq))} of #${median(rs.map((r) => r.lastSeq))} | ${rs[0]?.checkpointBytes ?? '-'} |`,
    );
  }
  const [short, long] = histories.map((h) => median(runs.get(`${h} entries, checkpoints on (defaults)`)!.map((r) => r.spawnToProtectedMs)));
  if (short !== undefined && long !== undefined) console.log(`\nratio ${Math.max(...histories)} / ${Math.min(...histories)} entries (spawn -> protected): ${(long / short).toFixed(2)} (goal: <= 2)`);
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
