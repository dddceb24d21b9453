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
  /** Log file bytes per answered request (warm-up included), and clock reads (`now` entries) per request. */
  logBytesPerRequest: Spread;
  clockReadsPerRequest: Spread;
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
    ratios: { lockstepRunVsBareNode: Spread; lockstepRunVsRawCall: Spread; guestDeliverVsRawCall: Spread; lockstepRunVsGuestDeliver: Spread; recordVsLockstepRun?: Spread; replicatedVsLockstepRun?: Spread };
  };
  replicated: { available: boolean; note: string };
  programs: ProgramRow[];
  /** Replicated vs unreplicated per workload, the ws floor, failover; absent when not available. */
  replication?: ReplicationResults;
  /** The project's goals, met or not and by how much. */
  goals: GoalRow[];
}

/** p50 / p99 / max of a set of values (nearest rank). */
export interface Distribution {
  n: number;
  p50: number;
  p99: number;
  max: number;
}

/** One workload served by `lockstep run` and by a primary + secondary pair, measured in the same run. */
export interface ReplicationRow {
  workload: string;
  program: string;
  request: string;
  unreplicated: { requestsPerS: Spread; p50Ms: Spread; p99Ms: Spread; latencyP50Ms: Spread; latencyP99Ms: Spread; nodeCpuMsPerRequest: Spread };
  replicated: { requestsPerS: Spread; p50Ms: Spread; p99Ms: Spread; latencyP50Ms: Spread; latencyP99Ms: Spread; primaryCpuMsPerRequest: Spread; secondaryCpuMsPerRequest: Spread };
  /** replicated / unreplicated requests/s (throughput phase, concurrency clients). */
  throughputRatio: Spread;
  /** replicated minus unreplicated latency, one client at a time (per repetition). */
  addedP50Ms: Spread;
  addedP99Ms: Spread;
  /** Request bytes on the wire (request line + headers + body). */
  wireBytesPerRequest: Spread;
  /** File data the guest reads per request. */
  diskReadBytesPerRequest: number;
  /** wire + disk read bytes. */
  inputBytesPerRequest: Spread;
  /** Bytes the primary sent on the logging channel, per request. */
  logBytesPerRequest: Spread;
  logBytesPerInputByte: Spread;
  /** At the replicated requests/s. */
  logBytesPerS: Spread;
  inputBytesPerS: Spread;
  /** VMware's rule of thumb: log bandwidth ~ input x 1.2. */
  ruleOfThumbBytesPerS: Spread;
  eventsPerRequest: Spread;
  /** The goal's bound: 1.05 x input bytes + 8 bytes per event, per request. */
  goalLogBytesPerRequest: Spread;
  /** Sampled (every 100 ms) primary lastSeq - secondary replayedSeq; ms = entries / entries per s. */
  lagEntriesP50: Spread;
  lagEntriesMax: Spread;
  lagMsP50: Spread;
  lagMsMax: Spread;
  /** Sealed channel frames the primary sent and received per request (the per-frame costs are most of the pair's extra CPU). */
  framesSentPerRequest: Spread;
  framesReceivedPerRequest: Spread;
  /**
   * Trivial workload only: both configurations again at the same offered load (a fraction of the
   * pair's closed-loop requests/s), CPU per request of each process. The closed loop compares a
   * saturated `lockstep run` with a pair that waits on acks; this compares the same work.
   */
  equalLoad?: { fractionOfPair: number; ratePerS: Spread; nodeCpuMsPerRequest: Spread; primaryCpuMsPerRequest: Spread; secondaryCpuMsPerRequest: Spread };
}

export interface FailoverResults {
  program: string;
  /** Default heartbeat / failure timeout of the pair commands unless given. */
  settings: string;
  trials: { detectionMs: number; claimWonMs: number; goLiveMs: number; clientGapMs: number; longestGapMs: number; firstAnswerAfterKillMs: number; answered: number; lost: number; duplicates: number }[];
  /** Failure detected / live, ms after the SIGKILL. */
  detectionMs: Distribution;
  goLiveMs: Distribution;
  /** Longest silence between answers from the last answer before the kill on (the client's view). */
  clientGapMs: Distribution;
  lostTotal: number;
  duplicatesTotal: number;
}

export interface ReplicationResults {
  /** Bare ws round trip, 35-byte msgpackr messages, echo server on the primary's core. */
  wsRtt: { messageBytes: number; p50Ms: Spread; p99Ms: Spread };
  workloads: ReplicationRow[];
  failover?: FailoverResults;
  /** The same with SIGSTOP instead of SIGKILL: detection by the failure timeout. */
  hangFailover?: FailoverResults;
}

export interface GoalRow {
  goal: string;
  /** e.g. ">= 0.97" */
  target: string;
  measured: number;
  unit: string;
  met: boolean;
  /** How far above or below the target, in words. */
  margin: string;
}
