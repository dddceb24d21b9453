// What the chaos checkers look at, and nothing else: what clients were told (every answer, with
// the node and the epoch it came from), what the nodes reported on their status endpoint, what
// they printed, and when the harness injected each fault. Times are ms since the run started.
import type { LoadRequest } from '../client/workloads.js';

export interface AnswerRecord {
  key: string;
  /** The node process that answered (one id per process: a restarted node gets a new id). */
  node: string;
  sentMs: number;
  doneMs: number;
  status: number;
  body: string;
  /** From the x-lockstep-epoch header. */
  epoch: number | undefined;
  /** 'readback': the same key asked again after the run, to see that the answer survived. */
  phase: 'load' | 'readback';
}

export interface KeyRecord {
  key: string;
  index: number;
  request: LoadRequest;
  sentMs: number;
  attempts: number;
  /** Why the last few attempts failed (`node reason`), e.g. `n3 503 fenced`, `n4 ECONNRESET`. */
  lastRetries?: string[];
  /** How many attempts failed for each reason (`503 not_live`, `timeout`, `ECONNRESET`, ...). */
  retryReasons?: Record<string, number>;
  /** The first answer a client was told for this key. */
  first?: AnswerRecord;
}

export interface StatusSample {
  /** Samples taken in one polling round share it: they describe the same moment. */
  round: number;
  tMs: number;
  node: string;
  role: string;
  epoch: number;
  protection?: string;
  connected?: boolean;
  lastSeq?: number;
  replayedSeq?: number;
  receivedSeq?: number;
  logListen?: string | null;
}

export interface NodeRecord {
  id: string;
  /** What it was started as. */
  startedAs: 'primary' | 'secondary';
  args: string[];
  url: string;
  startMs: number;
  exitMs?: number;
  exitCode?: number | null;
  exitSignal?: string | null;
  /** The restarted node's id, when the supervisor restarted one with its original command. */
  restartOf?: string;
  /** Lines that matter to the checkers (DIVERGED, FENCED, LIVE, claims), all of them. */
  notable: { atMs: number; line: string }[];
  /** The end of everything it printed, for the report. */
  outputTail: string;
}

export interface FaultRecord {
  index: number;
  kind: string;
  /** The node the fault hit (for link faults: the secondary whose link it was). */
  node: string;
  startMs: number;
  healMs: number;
  /** When a primary was protected again by a caught-up secondary; null if never within the limit. */
  reprotectedMs: number | null;
  /** Longest time no client got an answer, from the last answer before the fault to re-protection. */
  gapMs: number;
  notes: string[];
}

export interface History {
  answers: AnswerRecord[];
  keys: KeyRecord[];
  samples: StatusSample[];
  nodes: NodeRecord[];
  faults: FaultRecord[];
  endMs: number;
}
