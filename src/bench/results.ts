// The shape of a benchmark run's results: what the JSON file holds and the reports draw.
import type { MachineDescription } from './machine.js';
import type { Spread } from './stats.js';

export interface BenchSettings {
  quick: boolean;
  reps: number;
  /** Measured time of each HTTP load run and each in-process loop. */
  durationMs: number;
  /** Not counted, before each measured window. */
  warmupMs: number;
  concurrency: number;
  pinning: { enabled: boolean; description: string };
}

/** One way of running the trivial guest, measured `reps` times (interleaved with the others). */
export interface ThroughputRow {
  name: string;
  description: string;
  requestsPerS: Spread;
  /** HTTP configurations only. */
  p50Ms?: Spread;
  p99Ms?: Spread;
}

/** One guest program under `lockstep run --record`. */
export interface ProgramRow {
  program: string;
  request: string;
  /** Why the program could not be measured (only programs that are not bench-*.js are skipped). */
  error?: string;
  /** Answers with a 4xx status (the workload does not fit the program): still events, still logged. */
  non2xxAnswers: number;
  requestsPerS: Spread;
  p50Ms: Spread;
  p99Ms: Spread;
  /** Log events per answered request (timers and reads are events too). */
  eventsPerRequest: Spread;
  logBytesPerEvent: Spread;
  logBytesPerInputByte: Spread;
  /** Events the node executed per second while serving (requests/s x events per request). */
  liveEventsPerS: Spread;
  /** Events per second replaying the recorded log offline. */
  replayEventsPerS: Spread;
  /** live / replay: the fraction of replay speed the live node reaches (1 = replay is no faster). */
  liveVsReplay: Spread;
}

export interface BenchResults {
  formatVersion: 1;
  startedAt: string;
  finishedAt: string;
  elapsedMs: number;
  settings: BenchSettings;
  machine: MachineDescription;
  /** Load averages when the run finished (the machine's at the start are in `machine`). */
  loadAverageAtEnd: [number, number, number];
  throughput: {
    program: string;
    rows: ThroughputRow[];
    /** Requests/s ratios against the raw quickjs-emscripten call loop. */
    ratios: { lockstepRunVsRawCall: Spread; guestDeliverVsRawCall: Spread; lockstepRunVsGuestDeliver: Spread; recordVsLockstepRun?: Spread; replicatedVsLockstepRun?: Spread };
  };
  replicated: { available: boolean; note: string };
  programs: ProgramRow[];
}
