// The cost of `lockstep inspect --at N` near the end of a long recording (issue 23), with and
// without checkpoints to go back from. Not part of the test suite. Build first (`npm run build`), then:
//   npx tsx scripts/inspect-cost.ts [--entries 1000000] [--reps 3] [--checkpoint-every 10000] [--keep DIR]
// The recording is made by a real `lockstep run --record` process under autocannon (POST requests to
// the tally guest: 2 entries a request); --keep DIR keeps it there and reuses it on the next run.
// Every figure is the wall time of a fresh `lockstep inspect` process (median of --reps), or of one
// command inside a session (stdin not a terminal: one JSON line per command).
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { describeMachine, formatMachine } from '../src/bench/machine.js';
import { freePort, LOCKSTEP_BIN, PROJECT_ROOT } from '../src/bench/processes.js';
import { listCheckpointFiles } from '../src/checkpoint/sidecar.js';
import { readLogFile } from '../src/log/log-file.js';

const { values } = parseArgs({
  options: {
    entries: { type: 'string', default: '1000000' },
    reps: { type: 'string', default: '3' },
    'checkpoint-every': { type: 'string', default: '10000' },
    keep: { type: 'string' },
  },
});

const PROGRAM = join(PROJECT_ROOT, 'test', 'fixtures', 'timetravel', 'tally.js');
const ENTRIES_PER_REQUEST = 2;

async function lastSeqOf(url: string): Promise<number> {
  const status = (await (await fetch(`${url}/_lockstep/status`)).json()) as { lastSeq: number };
  return status.lastSeq;
}

/** Records at least `entries` entries with a real `lockstep run --record` under autocannon. */
async function record(logPath: string, entries: number, checkpointEvery: number): Promise<number> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, [LOCKSTEP_BIN, 'run', PROGRAM, '--port', String(port), '--dir', `${logPath}.dir`, '--record', logPath, '--checkpoint-every-entries', String(checkpointEvery), '--checkpoints-kept', '100000'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  while (!/serving/.test(stderr)) {
    if (child.exitCode !== null) throw new Error(`lockstep run exited: ${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const started = performance.now();
  let seq = 0;
  while ((seq = await lastSeqOf(url)) < entries) {
    await autocannon({ url: `${url}/none`, method: 'POST', body: '1', connections: 8, amount: Math.min(50_000, Math.ceil((entries - seq) / ENTRIES_PER_REQUEST)) });
    console.log(`  recorded ${await lastSeqOf(url)} entries after ${((performance.now() - started) / 1000).toFixed(0)} s`);
  }
  child.kill('SIGTERM');
  await new Promise((r) => child.on('close', r));
  return (performance.now() - started) / 1000;
}

interface Timed {
  ms: number;
  stdout: string;
  stderr: string;
}

function inspectOnce(args: string[]): Promise<Timed> {
  const started = performance.now();
  const child = spawn(process.execPath, [LOCKSTEP_BIN, 'inspect', ...args, '--verbose'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  return new Promise((resolve, reject) =>
    child.on('close', (code) => (code === 0 ? resolve({ ms: performance.now() - started, stdout: stdout.trim(), stderr: stderr.trim() }) : reject(new Error(`inspect ${args.join(' ')} exited ${code}: ${stderr}`)))),
  );
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Commands sent one at a time to one session; the time from sending each to its JSON line. */
async function session(logPath: string, commands: string[], extra: string[]): Promise<Array<{ command: string; ms: number; result: Record<string, unknown> }>> {
  const child = spawn(process.execPath, [LOCKSTEP_BIN, 'inspect', logPath, PROGRAM, '--at', '1', ...extra], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const results = [];
  for (const command of commands) {
    const started = performance.now();
    child.stdin.write(command + '\n');
    const line = await lines.next();
    results.push({ command, ms: performance.now() - started, result: JSON.parse(line.value as string) as Record<string, unknown> });
  }
  child.stdin.end();
  await new Promise((r) => child.on('close', r));
  return results;
}

async function main(): Promise<void> {
  const entries = Number(values.entries);
  const reps = Number(values.reps);
  const checkpointEvery = Number(values['checkpoint-every']);
  const dir = values.keep ?? mkdtempSync(join(tmpdir(), 'lockstep-inspect-cost-'));
  mkdirSync(dir, { recursive: true });
  const logPath = join(dir, `tally-${entries}.log`);
  console.log(`machine: ${formatMachine(describeMachine())}`);
  if (!existsSync(logPath)) {
    console.log(`recording ${entries} entries of ${PROGRAM} (checkpoint every ${checkpointEvery} entries) to ${logPath}`);
    console.log(`  took ${(await record(logPath, entries, checkpointEvery)).toFixed(0)} s`);
  }
  const readStarted = performance.now();
  const { entries: all } = readLogFile(logPath);
  const readMs = performance.now() - readStarted;
  const last = all.length;
  const checkpoints = await listCheckpointFiles(logPath);
  console.log(`log: ${last} entries, ${(statSync(logPath).size / 1e6).toFixed(1)} MB (decoded in ${readMs.toFixed(0)} ms in this process); ${checkpoints.length} checkpoint files, newest after #${checkpoints.at(-1)?.seq ?? '-'}, ${((checkpoints.at(-1)?.bytes ?? 0) / 1e6).toFixed(2)} MB each`);
  const mid = Math.floor(last / 2);
  const cases: Array<{ name: string; args: string[] }> = [
    { name: 'at #1 (fixed cost: start, load program, open the log, boot)', args: ['--at', '1'] },
    { name: `at #${last} (the end), from the newest checkpoint`, args: ['--at', String(last)] },
    { name: `at #${last - 5000}, from the newest checkpoint before it`, args: ['--at', String(last - 5000)] },
    { name: `at #${mid} (the middle), from the newest checkpoint before it`, args: ['--at', String(mid)] },
    { name: `at #${last} (the end), --no-checkpoints: from entry #1`, args: ['--at', String(last), '--no-checkpoints'] },
  ];
  console.log('\n| inspect --at N --eval (a fresh process each) | median of ' + reps + ' | replayed from | entries replayed | value |');
  console.log('|---|---|---|---|---|');
  for (const c of cases) {
    const runs: Timed[] = [];
    for (let rep = 0; rep < reps; rep++) runs.push(await inspectOnce([logPath, PROGRAM, ...c.args, '--eval', 'program.tallies.none']));
    const how = /from (.*), (\d+) entries replayed/.exec(runs[0].stderr);
    console.log(`| ${c.name} | ${median(runs.map((r) => r.ms)).toFixed(0)} ms | ${how?.[1] ?? '?'} | ${how?.[2] ?? '?'} | ${runs[0].stdout} |`);
  }
  for (const extra of [[], ['--no-checkpoints']]) {
    const commands = [`.at ${last}`, 'program.tallies.none', `.at ${last - 5000}`, '.prev', 'program.tallies.none', `.at ${mid}`, '.next', `.at ${last}`];
    const results = await session(logPath, commands, extra);
    console.log(`\n| one session${extra.length ? ' (--no-checkpoints)' : ''}: command | time | from | entries replayed |`);
    console.log('|---|---|---|---|');
    for (const { command, ms, result } of results) console.log(`| \`${command}\` | ${ms.toFixed(0)} ms | ${result.from ?? (result.ok ? 'evaluated' : String(result.code))} | ${result.replayed ?? '-'} |`);
  }
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
