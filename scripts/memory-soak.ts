// Memory soak (issue 9): a pair under full load for a long time; both nodes' RSS is sampled, and
// after warm-up it must stay within a band (checkpoints drop the log they cover, every store is
// bounded in bytes). Not part of the test suite. Build first (`npm run build`), then:
//   npx tsx scripts/memory-soak.ts --minutes 30 [--warmup-minutes 5] [--connections 8] [--body-bytes 64] [--band 0.25]
// Prints the machine, a table of samples, and a verdict; exits 1 if RSS left the band, 2 if a node died.
import { mkdtemp, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { describeMachine, formatMachine } from '../src/bench/machine.js';
import { detectPinning } from '../src/bench/pinning.js';
import { freePort, GUEST_PROGRAMS_DIR, startLockstep, stopChild, waitReady, type Child } from '../src/bench/processes.js';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '30' },
    'warmup-minutes': { type: 'string' },
    connections: { type: 'string', default: '8' },
    'body-bytes': { type: 'string', default: '64' },
    band: { type: 'string', default: '0.25' },
    'sample-seconds': { type: 'string', default: '15' },
  },
});

const minutes = Number(values.minutes);
const warmupMinutes = values['warmup-minutes'] !== undefined ? Number(values['warmup-minutes']) : Math.min(5, minutes / 5);
const band = Number(values.band);
const sampleMs = Number(values['sample-seconds']) * 1000;

interface Sample {
  atS: number;
  primaryRssMb: number;
  secondaryRssMb: number;
  lastSeq: number;
  checkpointSeq: number | null;
  retainedFrom: number;
  secondaryLag: number;
  /** The primary's own view (process.memoryUsage via status), to tell the V8 heap from buffers and native memory. */
  primaryMemory: Record<string, number> | undefined;
}

function rssMb(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
    return line ? Number(line.split(/\s+/)[1]) / 1024 : NaN;
  } catch {
    return NaN; // the process is gone: the verdict reports it
  }
}

async function status(url: string): Promise<Record<string, any>> {
  const response = await fetch(`${url}/_lockstep/status`);
  return (await response.json()) as Record<string, any>;
}

/** The pid of the node itself (taskset execs it, so the child's pid is the node's). */
const pidOf = (child: Child) => child.process.pid;

async function main(): Promise<number> {
  const pinning = detectPinning();
  console.log(`machine: ${formatMachine(describeMachine())}`);
  console.log(`pinning: ${pinning.description}`);
  console.log(`soak: ${minutes} min of load (${values.connections} connections, ${values['body-bytes']}-byte bodies), warm-up ${warmupMinutes} min, band ±${band * 100}%`);
  const dir = await mkdtemp(join(tmpdir(), 'lockstep-soak-'));
  const [port, logPort, secondaryPort] = [await freePort(), await freePort(), await freePort()];
  const program = join(GUEST_PROGRAMS_DIR, 'echo.js');
  const primary = startLockstep(pinning, 'node', ['primary', program, '--dir', dir, '--port', String(port), '--log-listen', `127.0.0.1:${logPort}`]);
  const primaryUrl = `http://127.0.0.1:${port}`;
  const secondaryUrl = `http://127.0.0.1:${secondaryPort}`;
  let secondary: Child | undefined;
  try {
    await waitReady(primary, primaryUrl, 'primary');
    secondary = startLockstep(pinning, 'secondary', ['secondary', program, '--dir', dir, '--port', String(secondaryPort), '--primary', `ws://127.0.0.1:${logPort}`, '--log-listen', '127.0.0.1:0']);
    await waitReady(secondary, secondaryUrl, 'secondary');
    const samples: Sample[] = [];
    const started = Date.now();
    const load = autocannon({
      url: `${primaryUrl}/echo`,
      method: 'POST',
      body: 'x'.repeat(Number(values['body-bytes'])),
      connections: Number(values.connections),
      duration: minutes * 60,
    });
    const sampler = setInterval(() => {
      void (async () => {
        const [p, s] = await Promise.all([status(primaryUrl), status(secondaryUrl)]).catch(() => [undefined, undefined]);
        const sample: Sample = {
          atS: Math.round((Date.now() - started) / 1000),
          primaryRssMb: rssMb(pidOf(primary)),
          secondaryRssMb: rssMb(pidOf(secondary!)),
          lastSeq: p?.lastSeq ?? NaN,
          checkpointSeq: p?.checkpointSeq ?? null,
          retainedFrom: p?.retainedFrom ?? NaN,
          secondaryLag: s?.lagEntries ?? NaN,
          primaryMemory: p?.memory,
        };
        samples.push(sample);
        const m = sample.primaryMemory;
        console.log(
          `t=${String(sample.atS).padStart(5)}s  primary ${sample.primaryRssMb.toFixed(0).padStart(4)} MB  secondary ${sample.secondaryRssMb.toFixed(0).padStart(4)} MB  ` +
            `entries ${sample.lastSeq}  checkpoint after #${sample.checkpointSeq}  log kept from #${sample.retainedFrom}  secondary lag ${sample.secondaryLag}  protection ${p?.protection}  ` +
            `primary heap ${m?.heapUsedMiB}/${m?.heapTotalMiB} MiB, buffers ${m?.arrayBuffersMiB} MiB, external ${m?.externalMiB} MiB`,
        );
      })();
    }, sampleMs);
    const result = await load;
    clearInterval(sampler);
    const p = await status(primaryUrl);
    const s = await status(secondaryUrl);
    console.log(`checkpoints: primary took ${p.checkpointsTaken} (pause p50 ${p.checkpointPauseMsP50} ms, p99 ${p.checkpointPauseMsP99} ms, ${p.checkpointBytes} bytes); secondary kept ${s.checkpointsTaken} (pause p50 ${s.checkpointPauseMsP50} ms, p99 ${s.checkpointPauseMsP99} ms)`);
    const died = [primary, secondary].some((c) => c.process.exitCode !== null || c.process.signalCode !== null);
    for (const [name, child] of [['primary', primary], ['secondary', secondary]] as const) {
      if (child.process.exitCode !== null || child.process.signalCode !== null) {
        console.log(`${name} ended early (exit ${child.process.exitCode}, signal ${child.process.signalCode}); its last words:\n${child.stderr()}`);
      }
    }
    console.log(`load: ${result.requests.total} requests, ${result.requests.average.toFixed(0)} req/s mean, ${result.non2xx} non-2xx, ${result.errors} errors, p99 latency ${result.latency.p99} ms`);
    return verdict(samples, died);
  } finally {
    await Promise.all([stopChild(primary), secondary ? stopChild(secondary) : undefined]);
    await rm(dir, { recursive: true, force: true });
  }
}

function verdict(samples: Sample[], died: boolean): number {
  if (died) {
    console.log('VERDICT: a node died during the soak');
    return 2;
  }
  const after = samples.filter((s) => s.atS >= warmupMinutes * 60);
  let ok = after.length > 0;
  for (const node of ['primaryRssMb', 'secondaryRssMb'] as const) {
    const values = after.map((s) => s[node]);
    const min = Math.min(...values);
    const max = Math.max(...values);
    const within = max <= min * (1 + band);
    ok &&= within;
    // The trend tells growth from the garbage collector's sawtooth: the mean of the first third after warm-up against the last third.
    const third = Math.max(1, Math.floor(values.length / 3));
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const [early, late] = [mean(values.slice(0, third)), mean(values.slice(-third))];
    console.log(
      `${node.replace('RssMb', '')}: RSS after warm-up ${min.toFixed(0)}..${max.toFixed(0)} MB (max/min ${(max / min).toFixed(3)}) over ${values.length} samples: ` +
        `${within ? 'within' : 'OUTSIDE'} ±${band * 100}%; mean of the first third ${early.toFixed(0)} MB, of the last third ${late.toFixed(0)} MB (${(((late - early) / early) * 100).toFixed(1)}%)`,
    );
  }
  const last = samples[samples.length - 1];
  if (last) console.log(`entries logged: ${last.lastSeq}; the primary keeps the log from #${last.retainedFrom} (newest checkpoint after #${last.checkpointSeq})`);
  console.log(`VERDICT: ${ok ? 'RSS stayed within the band' : 'RSS left the band (the trend line says whether it grew)'}`);
  return ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(error);
    process.exit(2);
  },
);
