// A whole benchmark run: the trivial guest under `lockstep run` (and replicated, once it exists)
// side by side with in-process call loops; then every guest program recorded under
// `lockstep run --record` for its log size and its replay speed. Configurations are interleaved
// (A B C A B C ...) and repeated; figures are medians with their min-max spread.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { bareNode, replicated, replicationAvailable, unreplicated, type Configuration } from './configurations.js';
import { describeMachine, formatMachine } from './machine.js';
import { detectPinning, type Pinning } from './pinning.js';
import { GUEST_PROGRAMS_DIR } from './processes.js';
import type { BenchResults, ProgramRow, ThroughputRow } from './results.js';
import { measureHttp, measureLoop, measureReplay, type RunBudget } from './runner.js';
import { ratioOf, spreadOf } from './stats.js';
import { describeWorkload, guestPrograms, REPLICATION_WORKLOADS, replicationWorkloadsFor, TRIVIAL_PROGRAM, workloadFor } from './workloads.js';
import { measurePair, type PairSample } from './replication.js';
import { measureFailover, measureWsRtt } from './runner.js';
import { evaluateGoals } from './goals.js';
import type { FailoverResults, ReplicationResults, ReplicationRow } from './results.js';
import { HANG_CLIENT_TIMEOUT_MS, type FailoverTrial } from './failover.js';
import { percentile } from './stats.js';

export interface BenchOptions {
  /** The QUICK preset instead of FULL (below). */
  quick?: boolean;
  reps?: number;
  /** Measured time of each run (the budget); given by hand, the warm-up is a fifth of it, at most 500 ms. */
  budgetMs?: number;
  concurrency?: number;
  /** Guest programs to record (default: every .js file in guest-programs/). */
  programs?: string[];
  /** Skip probing for the replicated configuration (treat it as unavailable). */
  noReplicated?: boolean;
  /** Replicated-vs-unreplicated workloads (default all; quick: trivial, write, cpu, body). */
  workloads?: string[];
  /** SIGKILLs of a primary under load, a fresh pair each (quick 5, full 9); 0 for none. */
  failoverTrials?: number;
}

/**
 * Quick runs take ~3 minutes: 0.7 s windows, 4 workloads, and the trivial-guest and per-program
 * sections in the first repetition only (the replicated-vs-unreplicated section and failover in every one).
 * The full run takes ~20 minutes: 2 s windows after a 1.5 s warm-up (a freshly started node needs
 * over a second of load before V8 has compiled its hot paths: with 0.4 s, a pair's CPU per request
 * came out 1.7x its warm figure); the per-program recordings (log bytes and replay speed, which
 * barely vary between repetitions) run in the first repetition only. Quick runs record only the
 * guests of their workloads and bench-clock.js (the full run records every guest program).
 */
export const QUICK = { reps: 2, budgetMs: 700, warmupMs: 300, failoverTrials: 5, killAfterMs: 600, afterKillMs: 600, trivialEveryRep: false, programsEveryRep: false } as const;
export const FULL = { reps: 3, budgetMs: 2000, warmupMs: 1500, failoverTrials: 9, killAfterMs: 1000, afterKillMs: 1000, trivialEveryRep: true, programsEveryRep: false } as const;
/** The failover trials' load: light, failover-aware (runLoad), on the counter guest. */
export const FAILOVER_PROGRAM = 'counter.js';
export const FAILOVER_RATE = 200;
export const FAILOVER_CONCURRENCY = 8;
export const DEFAULT_CONCURRENCY = 8;

const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : String(n));

interface ThroughputEntry {
  name: string;
  description: string;
  measure(rep: number): Promise<{ rps: number; p50?: number; p99?: number }>;
}

export async function runBench(options: BenchOptions, print: (line: string) => void): Promise<BenchResults> {
  const started = Date.now();
  const preset = options.quick ? QUICK : FULL;
  const reps = options.reps ?? preset.reps;
  const durationMs = options.budgetMs ?? preset.budgetMs;
  // A budget given by hand (the test's tiny one) gets a warm-up in proportion.
  const warmupMs = options.budgetMs === undefined ? preset.warmupMs : Math.round(Math.min(500, durationMs / 5));
  const budget: RunBudget = { durationMs, warmupMs, concurrency: options.concurrency ?? DEFAULT_CONCURRENCY };
  const machine = describeMachine();
  const pinning = detectPinning();
  const failoverTrials = options.failoverTrials ?? preset.failoverTrials;
  const workloads = replicationWorkloadsFor(options.workloads, !!options.quick);
  // Quick: the guests of its workloads, and bench-clock.js for the log-bytes-per-clock-read goal.
  const quickPrograms = new Set([...workloads.map((w) => w.program), 'bench-clock.js']);
  const programs = options.programs ?? (options.quick ? guestPrograms().filter((p) => quickPrograms.has(basename(p))) : guestPrograms());
  const trivial = join(GUEST_PROGRAMS_DIR, TRIVIAL_PROGRAM);
  const replicatedAvailable = !options.noReplicated && replicationAvailable();
  let replicatedNote = replicatedAvailable ? 'measured' : 'not available yet (`lockstep primary --help` does not exit 0)';

  print(`machine: ${formatMachine(machine)}`);
  print(`pinning: ${pinning.description}`);
  print(`settings: ${reps} reps x ${durationMs} ms (warm-up ${budget.warmupMs} ms), concurrency ${budget.concurrency}, configurations interleaved${preset.trivialEveryRep ? '' : '; trivial-guest section in rep 1 only'}${preset.programsEveryRep ? '' : '; per-program section in rep 1 only'}; ${failoverTrials} failovers`);
  print(`replicated: ${replicatedAvailable ? 'available' : 'not available yet'}`);

  const workRoot = await mkdtemp(join(tmpdir(), 'lockstep-bench-'));
  try {
    const entries: ThroughputEntry[] = [];
    const http = (configuration: Configuration, record = false): ThroughputEntry => ({
      name: configuration.name + (record ? '+record' : ''),
      description: configuration.description + (record ? ', writing its log with --record' : ''),
      async measure() {
        const { load, log } = await measureHttp(configuration, trivial, budget, pinning, join(workRoot, configuration.name), { record });
        if (log) await rm(log.path, { force: true });
        return { rps: load.requestsPerS, p50: load.p50Ms, p99: load.p99Ms };
      },
    });
    entries.push(http(bareNode));
    entries.push(http(unreplicated));
    entries.push(http(unreplicated, true));
    if (replicatedAvailable) entries.push(http(replicated));
    entries.push({
      name: 'guest-deliver',
      description: 'Guest.deliver in a loop in one process, fake world (no HTTP, no log)',
      measure: async () => ({ rps: (await measureLoop('guest-deliver', trivial, budget, pinning)).callsPerS }),
    });
    entries.push({
      name: 'raw-call',
      description: 'quickjs-emscripten-core callFunction loop on a trivial handler (no Lockstep at all)',
      measure: async () => ({ rps: (await measureLoop('raw-call', trivial, budget, pinning)).callsPerS }),
    });

    const tp = new Map(entries.map((e) => [e.name, { rps: [] as number[], p50: [] as number[], p99: [] as number[] }]));
    const perProgram = new Map(programs.map((p) => [p, { rps: [] as number[], p50: [] as number[], p99: [] as number[], epr: [] as number[], bpe: [] as number[], bpi: [] as number[], live: [] as number[], replay: [] as number[], bpr: [] as number[], npr: [] as number[], ratio: [] as number[], non2xx: 0, error: undefined as string | undefined }]));

    const pairSamples = new Map(workloads.map((w) => [w.name, { unreplicated: [] as PairSample[], replicated: [] as PairSample[], equalLoad: [] as EqualLoadSample[] }]));
    const rttSamples: { p50: number; p99: number; bytes: number }[] = [];
    const trials: FailoverTrial[] = [];
    const hangTrials: FailoverTrial[] = [];

    for (let rep = 1; rep <= reps; rep++) {
      const tag = `[rep ${rep}/${reps}]`;
      if (replicatedAvailable) {
        const rtt = await measureWsRtt(budget, pinning);
        rttSamples.push({ p50: rtt.p50Ms, p99: rtt.p99Ms, bytes: rtt.messageBytes });
        print(`${tag} bare ws round trip (${rtt.messageBytes}-byte msgpackr messages, ${rtt.roundTrips} round trips): p50 ${fmt(rtt.p50Ms, 3)} ms, p99 ${fmt(rtt.p99Ms, 3)} ms`);
        for (const w of workloads) {
          const program = join(GUEST_PROGRAMS_DIR, w.program);
          const samples = pairSamples.get(w.name)!;
          // Alternate which configuration goes first, so neither always gets the warmer machine.
          const order = rep % 2 === 1 ? [unreplicated, replicated] : [replicated, unreplicated];
          for (const configuration of order) {
            const sample = await measurePair(configuration, program, budget, pinning, join(workRoot, `pair-${w.name}`));
            (configuration === replicated ? samples.replicated : samples.unreplicated).push(sample);
            print(
              `${tag} ${w.name} (${w.program}) ${configuration.name}: ${fmt(sample.load.requestsPerS)} req/s; 1 client p50 ${fmt(latencyMs(sample, 'p50Ms'), 3)} ms, p99 ${fmt(latencyMs(sample, 'p99Ms'), 2)} ms; CPU/request ${cpuPerRequest(sample)}` +
                (sample.log ? `; log ${fmt(sample.log.bytesPerRequest)} B/request, lag max ${Math.max(0, ...sample.log.lagEntries)} entries` : '') +
                (sample.load.errors + sample.load.non2xx > 0 ? ` (${sample.load.non2xx} non-2xx, ${sample.load.errors} errors; first: ${sample.load.firstError})` : ''),
            );
          }
          if (w.name === EQUAL_LOAD_WORKLOAD) {
            const equal = await measureEqualLoad(order, program, budget, pinning, join(workRoot, `equal-${w.name}`), samples.replicated.at(-1)!);
            samples.equalLoad.push(equal);
            print(`${tag} ${w.name} (${w.program}) both at ${fmt(equal.ratePerS)} req/s offered: CPU/request ${cpuPerRequest(equal.unreplicated)}; ${cpuPerRequest(equal.replicated)}`);
          }
        }
        const due = Math.ceil((failoverTrials * rep) / reps);
        while (trials.length < due) {
          const trial = await measureFailover(
            { program: join(GUEST_PROGRAMS_DIR, FAILOVER_PROGRAM), killAfterMs: preset.killAfterMs, afterKillMs: preset.afterKillMs, rate: FAILOVER_RATE, concurrency: FAILOVER_CONCURRENCY },
            pinning,
          );
          trials.push(trial);
          print(
            `${tag} failover ${trials.length}/${failoverTrials} (SIGKILL of the primary under load): detected +${fmt(trial.detectionMs)} ms, live +${fmt(trial.goLiveMs)} ms, ` +
              `client gap ${fmt(trial.clientGapMs)} ms; ${trial.answered} answered, ${trial.lost} lost, ${trial.duplicates} duplicates`,
          );
        }
        if (failoverTrials > 0) {
          // One hang per repetition: detection by the failure timeout, the case a crash does not show.
          const trial = await measureFailover(
            { program: join(GUEST_PROGRAMS_DIR, FAILOVER_PROGRAM), killAfterMs: preset.killAfterMs, afterKillMs: preset.afterKillMs + 1500, rate: FAILOVER_RATE, concurrency: FAILOVER_CONCURRENCY, fault: 'hang' },
            pinning,
          );
          hangTrials.push(trial);
          print(
            `${tag} failover by timeout ${hangTrials.length}/${reps} (SIGSTOP of the primary under load): detected +${fmt(trial.detectionMs)} ms, live +${fmt(trial.goLiveMs)} ms, ` +
              `client gap ${fmt(trial.clientGapMs)} ms; ${trial.answered} answered, ${trial.lost} lost, ${trial.duplicates} duplicates`,
          );
        }
      }
      for (const entry of rep === 1 || preset.trivialEveryRep ? [...entries] : []) {
        let m: Awaited<ReturnType<ThroughputEntry['measure']>>;
        try {
          m = await entry.measure(rep);
        } catch (error) {
          if (entry.name !== replicated.name) throw error;
          replicatedNote = `failed: ${(error as Error).message}`;
          print(`${tag} replicated: failed, dropped from this run: ${(error as Error).message}`);
          entries.splice(entries.indexOf(entry), 1);
          tp.delete(entry.name);
          continue;
        }
        const s = tp.get(entry.name)!;
        s.rps.push(m.rps);
        if (m.p50 !== undefined) s.p50.push(m.p50);
        if (m.p99 !== undefined) s.p99.push(m.p99);
        print(`${tag} ${TRIVIAL_PROGRAM} via ${entry.name}: ${fmt(m.rps)} req/s${m.p50 !== undefined ? `, p50 ${fmt(m.p50, 2)} ms, p99 ${fmt(m.p99!, 2)} ms` : ''}`);
      }
      for (const program of rep === 1 || preset.programsEveryRep ? programs : []) {
        const name = basename(program);
        const s = perProgram.get(program)!;
        let load, log, replay;
        try {
          ({ load, log } = await measureHttp(unreplicated, program, budget, pinning, join(workRoot, `rec-${name}`), { record: true }));
          replay = await measureReplay(log!.path, program, budget, pinning);
        } catch (error) {
          // Other people's guest programs may be broken or unfit for a plain load: note it, go on.
          if (name.startsWith('bench-')) throw error;
          s.error = (error as Error).message;
          print(`${tag} ${name}: skipped: ${s.error}`);
          continue;
        }
        const eventsPerRequest = (log!.events - log!.bootEvents) / load.totalOk;
        const live = load.requestsPerS * eventsPerRequest;
        s.non2xx += load.non2xx;
        s.rps.push(load.requestsPerS);
        s.p50.push(load.p50Ms);
        s.p99.push(load.p99Ms);
        s.epr.push(eventsPerRequest);
        s.bpe.push(log!.bytesPerEvent);
        s.bpi.push(log!.bytesPerInputByte);
        s.live.push(live);
        s.replay.push(replay.eventsPerS);
        s.bpr.push(log!.fileBytes / load.totalOk);
        s.npr.push((log!.entriesByKind.now ?? 0) / load.totalOk);
        s.ratio.push(live / replay.eventsPerS);
        print(
          `${tag} ${name} (lockstep run --record): ${fmt(load.requestsPerS)} req/s, p99 ${fmt(load.p99Ms, 2)} ms, ` +
            `${fmt(log!.bytesPerEvent, 1)} log B/event, ${fmt(log!.bytesPerInputByte, 2)} log B/input B, ` +
            `live ${fmt(live)} events/s, replay ${fmt(replay.eventsPerS)} events/s` +
            (load.errors + load.non2xx > 0 ? ` (${load.non2xx} non-2xx answers, ${load.errors} errors; first: ${load.firstError})` : ''),
        );
        await rm(log!.path, { force: true });
      }
    }

    const rows: ThroughputRow[] = entries.map((e) => {
      const s = tp.get(e.name)!;
      return { name: e.name, description: e.description, requestsPerS: spreadOf(s.rps), ...(s.p50.length ? { p50Ms: spreadOf(s.p50), p99Ms: spreadOf(s.p99) } : {}) };
    });
    const row = (name: string) => rows.find((r) => r.name === name)!.requestsPerS;
    const ratios: BenchResults['throughput']['ratios'] = {
      lockstepRunVsBareNode: ratioOf(row('lockstep-run'), row(bareNode.name)),
      lockstepRunVsRawCall: ratioOf(row('lockstep-run'), row('raw-call')),
      guestDeliverVsRawCall: ratioOf(row('guest-deliver'), row('raw-call')),
      lockstepRunVsGuestDeliver: ratioOf(row('lockstep-run'), row('guest-deliver')),
    };
    if (tp.has('lockstep-run+record')) ratios.recordVsLockstepRun = ratioOf(row('lockstep-run+record'), row('lockstep-run'));
    if (tp.has(replicated.name)) ratios.replicatedVsLockstepRun = ratioOf(row(replicated.name), row('lockstep-run'));
    const programRows: ProgramRow[] = programs.map((program) => {
      const s = perProgram.get(program)!;
      return {
        program: basename(program),
        request: describeWorkload(workloadFor(program)),
        ...(s.error && s.rps.length === 0 ? { error: s.error } : {}),
        non2xxAnswers: s.non2xx,
        requestsPerS: spreadOf(s.rps),
        p50Ms: spreadOf(s.p50),
        p99Ms: spreadOf(s.p99),
        eventsPerRequest: spreadOf(s.epr),
        logBytesPerRequest: spreadOf(s.bpr),
        clockReadsPerRequest: spreadOf(s.npr),
        logBytesPerEvent: spreadOf(s.bpe),
        logBytesPerInputByte: spreadOf(s.bpi),
        liveEventsPerS: spreadOf(s.live),
        replayEventsPerS: spreadOf(s.replay),
        liveVsReplay: spreadOf(s.ratio),
      };
    });
    const replication = replicatedAvailable ? summarizeReplication(workloads, pairSamples, rttSamples, trials, hangTrials) : undefined;
    const goals = evaluateGoals(replication, programRows, ratios);
    const finished = Date.now();
    return {
      formatVersion: 1,
      startedAt: new Date(started).toISOString(),
      finishedAt: new Date(finished).toISOString(),
      elapsedMs: finished - started,
      settings: { quick: !!options.quick, reps, durationMs, warmupMs: budget.warmupMs, concurrency: budget.concurrency, pinning: { enabled: pinning.enabled, description: pinning.description } },
      machine,
      loadAverageAtEnd: describeMachine().loadAverage,
      throughput: { program: TRIVIAL_PROGRAM, rows, ratios },
      replicated: { available: replicatedAvailable, note: replicatedNote },
      programs: programRows,
      ...(replication ? { replication } : {}),
      goals,
    };
  } finally {
    await rm(workRoot, { recursive: true, force: true });
  }
}

/** The workload whose CPU per request is also compared at an equal offered load, and that load as a fraction of the pair's closed-loop requests/s. */
const EQUAL_LOAD_WORKLOAD = 'trivial';
const EQUAL_LOAD_FRACTION = 0.8;

interface EqualLoadSample {
  ratePerS: number;
  unreplicated: PairSample;
  replicated: PairSample;
}

/** Both configurations (in `order`) at the same fixed rate, below what the pair sustained, no latency phase: CPU per request of the same work. */
async function measureEqualLoad(order: Configuration[], program: string, budget: RunBudget, pinning: Pinning, workDir: string, pairSaturated: PairSample): Promise<EqualLoadSample> {
  const ratePerS = Math.max(100, Math.round(EQUAL_LOAD_FRACTION * pairSaturated.load.requestsPerS));
  const sampleOf = new Map<Configuration, PairSample>();
  for (const configuration of order) sampleOf.set(configuration, await measurePair(configuration, program, budget, pinning, workDir, { ratePerS, latency: false }));
  return { ratePerS, unreplicated: sampleOf.get(unreplicated)!, replicated: sampleOf.get(replicated)! };
}

/** Each process's CPU per request, as a progress line shows it. */
function cpuPerRequest(sample: PairSample): string {
  return Object.entries(sample.cpuMsPerRequest).map(([role, ms]) => `${role} ${fmt(ms * 1000)} us`).join(', ');
}

/** A one-client latency percentile; NaN where the latency phase was skipped. */
function latencyMs(sample: PairSample, percentile: 'p50Ms' | 'p99Ms'): number {
  return sample.latency?.[percentile] ?? NaN;
}

function distributionOf(values: number[]): { n: number; p50: number; p99: number; max: number } {
  return { n: values.length, p50: percentile(values, 0.5), p99: percentile(values, 0.99), max: values.length ? Math.max(...values) : NaN };
}

function summarizeReplication(
  workloads: readonly (typeof REPLICATION_WORKLOADS)[number][],
  pairSamples: Map<string, { unreplicated: PairSample[]; replicated: PairSample[]; equalLoad: EqualLoadSample[] }>,
  rttSamples: { p50: number; p99: number; bytes: number }[],
  trials: FailoverTrial[],
  hangTrials: FailoverTrial[] = [],
): ReplicationResults {
  const rows: ReplicationRow[] = workloads.map((w) => {
    const { unreplicated: u, replicated: r, equalLoad } = pairSamples.get(w.name)!;
    const per = (list: PairSample[], get: (s: PairSample) => number) => spreadOf(list.map(get));
    const paired = (get: (rs: PairSample, us: PairSample) => number) => spreadOf(r.map((rs, i) => get(rs, u[i]!)));
    const input = (s: PairSample) => s.wireBytesPerRequest + w.diskReadBytes;
    const lagMs = (s: PairSample, pick: (xs: number[]) => number) => (pick(s.log!.lagEntries) * 1000) / s.log!.entriesPerS;
    const uRps = per(u, (s) => s.load.requestsPerS);
    const rRps = per(r, (s) => s.load.requestsPerS);
    return {
      workload: w.name,
      program: w.program,
      request: describeWorkload(workloadFor(w.program)),
      unreplicated: {
        requestsPerS: uRps,
        p50Ms: per(u, (s) => s.load.p50Ms),
        p99Ms: per(u, (s) => s.load.p99Ms),
        latencyP50Ms: per(u, (s) => latencyMs(s, 'p50Ms')),
        latencyP99Ms: per(u, (s) => latencyMs(s, 'p99Ms')),
        nodeCpuMsPerRequest: per(u, (s) => s.cpuMsPerRequest.node ?? NaN),
      },
      replicated: {
        requestsPerS: rRps,
        p50Ms: per(r, (s) => s.load.p50Ms),
        p99Ms: per(r, (s) => s.load.p99Ms),
        latencyP50Ms: per(r, (s) => latencyMs(s, 'p50Ms')),
        latencyP99Ms: per(r, (s) => latencyMs(s, 'p99Ms')),
        primaryCpuMsPerRequest: per(r, (s) => s.cpuMsPerRequest.primary ?? NaN),
        secondaryCpuMsPerRequest: per(r, (s) => s.cpuMsPerRequest.secondary ?? NaN),
      },
      throughputRatio: ratioOf(rRps, uRps),
      addedP50Ms: paired((rs, us) => latencyMs(rs, 'p50Ms') - latencyMs(us, 'p50Ms')),
      addedP99Ms: paired((rs, us) => latencyMs(rs, 'p99Ms') - latencyMs(us, 'p99Ms')),
      wireBytesPerRequest: per(r, (s) => s.wireBytesPerRequest),
      diskReadBytesPerRequest: w.diskReadBytes,
      inputBytesPerRequest: per(r, input),
      logBytesPerRequest: per(r, (s) => s.log!.bytesPerRequest),
      logBytesPerInputByte: per(r, (s) => s.log!.bytesPerRequest / input(s)),
      logBytesPerS: per(r, (s) => s.log!.bytesPerRequest * s.load.requestsPerS),
      inputBytesPerS: per(r, (s) => input(s) * s.load.requestsPerS),
      ruleOfThumbBytesPerS: per(r, (s) => 1.2 * input(s) * s.load.requestsPerS),
      eventsPerRequest: per(r, (s) => s.log!.eventsPerRequest),
      goalLogBytesPerRequest: per(r, (s) => 1.05 * input(s) + 8 * s.log!.eventsPerRequest),
      lagEntriesP50: per(r, (s) => percentile(s.log!.lagEntries, 0.5)),
      lagEntriesMax: per(r, (s) => Math.max(0, ...s.log!.lagEntries)),
      lagMsP50: per(r, (s) => lagMs(s, (xs) => percentile(xs, 0.5))),
      lagMsMax: per(r, (s) => lagMs(s, (xs) => Math.max(0, ...xs))),
      framesSentPerRequest: per(r, (s) => s.log!.framesSentPerRequest),
      framesReceivedPerRequest: per(r, (s) => s.log!.framesReceivedPerRequest),
      ...(equalLoad.length
        ? {
            equalLoad: {
              fractionOfPair: EQUAL_LOAD_FRACTION,
              ratePerS: spreadOf(equalLoad.map((e) => e.ratePerS)),
              nodeCpuMsPerRequest: spreadOf(equalLoad.map((e) => e.unreplicated.cpuMsPerRequest.node ?? NaN)),
              primaryCpuMsPerRequest: spreadOf(equalLoad.map((e) => e.replicated.cpuMsPerRequest.primary ?? NaN)),
              secondaryCpuMsPerRequest: spreadOf(equalLoad.map((e) => e.replicated.cpuMsPerRequest.secondary ?? NaN)),
            },
          }
        : {}),
    };
  });
  const failoverOf = (list: FailoverTrial[], settings: string): FailoverResults | undefined =>
    list.length
      ? {
          program: FAILOVER_PROGRAM,
          settings,
          trials: list,
          detectionMs: distributionOf(list.map((t) => t.detectionMs)),
          goLiveMs: distributionOf(list.map((t) => t.goLiveMs)),
          clientGapMs: distributionOf(list.map((t) => t.clientGapMs)),
          lostTotal: list.reduce((a, t) => a + t.lost, 0),
          duplicatesTotal: list.reduce((a, t) => a + t.duplicates, 0),
        }
      : undefined;
  const base = `default heartbeat and failure timeout of the pair commands, runLoad at ${FAILOVER_RATE} keys/s, concurrency ${FAILOVER_CONCURRENCY}`;
  const failover = failoverOf(trials, base);
  const hangFailover = failoverOf(hangTrials, `${base}, client request timeout ${HANG_CLIENT_TIMEOUT_MS} ms`);
  return {
    wsRtt: { messageBytes: rttSamples[0]?.bytes ?? NaN, p50Ms: spreadOf(rttSamples.map((x) => x.p50)), p99Ms: spreadOf(rttSamples.map((x) => x.p99)) },
    workloads: rows,
    ...(failover ? { failover } : {}),
    ...(hangFailover ? { hangFailover } : {}),
  };
}
