// The chaos checkers: pure functions over a run's history (what clients were told, what nodes
// reported and printed, when faults happened). They know nothing of how the system works inside,
// only what it promises: no acknowledged answer lost, no key answered two ways, one node serving
// at a time, the guest's invariant, no divergence, and service back within bounds after a fault.
import type { AnswerRecord, FaultRecord, History, KeyRecord, NodeRecord, StatusSample } from './history.js';

export type ViolationClass = 'correctness' | 'liveness';
export type ViolationKind =
  | 'lost-answer'
  | 'conflicting-answers'
  | 'two-nodes-one-epoch'
  | 'stale-epoch-answer'
  | 'two-primaries'
  | 'invariant'
  | 'divergence'
  | 'gap-too-long'
  | 'not-reprotected'
  | 'fenced-not-exited'
  | 'no-live-primary'
  | 'keys-given-up'
  | 'readback-unanswered';

export interface Violation {
  kind: ViolationKind;
  class: ViolationClass;
  message: string;
  atMs?: number;
}

const CLASS: Record<ViolationKind, ViolationClass> = {
  'lost-answer': 'correctness',
  'conflicting-answers': 'correctness',
  'two-nodes-one-epoch': 'correctness',
  'stale-epoch-answer': 'correctness',
  'two-primaries': 'correctness',
  invariant: 'correctness',
  divergence: 'correctness',
  'gap-too-long': 'liveness',
  'not-reprotected': 'liveness',
  'fenced-not-exited': 'liveness',
  'no-live-primary': 'liveness',
  'keys-given-up': 'liveness',
  'readback-unanswered': 'liveness',
};

export function violation(kind: ViolationKind, message: string, atMs?: number): Violation {
  return { kind, class: CLASS[kind], message, ...(atMs === undefined ? {} : { atMs: Math.round(atMs) }) };
}

/** An answer from an older epoch may trail the first answer of a newer one by this much (delivery, not release). */
export const STALE_ANSWER_TOLERANCE_MS = 100;
/** Violations of one kind listed by message; the rest are counted. */
export const EXAMPLES_PER_KIND_MAX = 5;

export interface LivenessLimits {
  /** Longest client-visible gap allowed per fault. */
  gapMaxMs: number;
  /** A node that reports `fenced` must have exited this long after. */
  fencedExitGraceMs: number;
  /** Two nodes may both report `primary` (different epochs) this long: the old one has yet to notice. */
  stalePrimaryGraceMs: number;
}

const same = (a: AnswerRecord, b: AnswerRecord) => a.status === b.status && a.body === b.body;
const show = (a: AnswerRecord) => `${a.status} ${a.body.slice(0, 120)} from ${a.node} (epoch ${a.epoch ?? '?'}, at ${Math.round(a.doneMs)} ms)`;

/** No key is given two different answers, during the run or when asked again afterwards. */
export function checkAnswers(answers: AnswerRecord[]): Violation[] {
  const byKey = new Map<string, AnswerRecord[]>();
  for (const a of answers) {
    const list = byKey.get(a.key);
    if (list) list.push(a);
    else byKey.set(a.key, [a]);
  }
  const out: Violation[] = [];
  for (const [key, list] of byKey) {
    const first = list.filter((a) => a.phase === 'load').sort((a, b) => a.doneMs - b.doneMs)[0];
    if (!first) continue;
    const differing = list.find((a) => a !== first && !same(a, first));
    if (!differing) continue;
    if (differing.phase === 'readback') {
      out.push(violation('lost-answer', `key ${key}: a client was told ${show(first)}, but asked again after the run it got ${show(differing)}: the acknowledged answer was lost and the request ran again`, first.doneMs));
    } else {
      out.push(violation('conflicting-answers', `key ${key}: told ${show(first)} and also ${show(differing)}`, differing.doneMs));
    }
  }
  return out;
}

/**
 * One node serves at a time: two nodes answering in one epoch at overlapping times is split brain,
 * and an answer from an older epoch after a newer epoch answered elsewhere is a stale primary.
 */
export function checkEpochs(answers: AnswerRecord[]): Violation[] {
  const out: Violation[] = [];
  const load = answers.filter((a) => a.phase === 'load' && a.epoch !== undefined).sort((a, b) => a.doneMs - b.doneMs);
  const spans = new Map<number, Map<string, { from: number; to: number }>>();
  for (const a of load) {
    const nodes = spans.get(a.epoch!) ?? new Map<string, { from: number; to: number }>();
    spans.set(a.epoch!, nodes);
    const span = nodes.get(a.node);
    if (span) span.to = a.doneMs;
    else nodes.set(a.node, { from: a.doneMs, to: a.doneMs });
  }
  for (const [epoch, nodes] of spans) {
    const list = [...nodes].sort((a, b) => a[1].from - b[1].from);
    for (let i = 0; i < list.length; i++) {
      for (let j = i + 1; j < list.length; j++) {
        const [n1, s1] = list[i]!;
        const [n2, s2] = list[j]!;
        if (s2.from <= s1.to) {
          out.push(violation('two-nodes-one-epoch', `epoch ${epoch}: ${n1} answered clients from ${Math.round(s1.from)} to ${Math.round(s1.to)} ms and ${n2} from ${Math.round(s2.from)} to ${Math.round(s2.to)} ms: two nodes served at once`, s2.from));
        }
      }
    }
  }
  // The newest epoch seen so far, and who served it; an older epoch from another node after it is stale.
  let newest: AnswerRecord | undefined;
  for (const a of load) {
    if (newest && a.epoch! < newest.epoch! && a.node !== newest.node && a.doneMs - newest.doneMs > STALE_ANSWER_TOLERANCE_MS) {
      out.push(violation('stale-epoch-answer', `${a.node} answered key ${a.key} in epoch ${a.epoch} at ${Math.round(a.doneMs)} ms, ${Math.round(a.doneMs - newest.doneMs)} ms after ${newest.node} had answered in epoch ${newest.epoch}: an old primary still released answers`, a.doneMs));
    }
    if (!newest || a.epoch! > newest.epoch!) newest = a;
  }
  return out;
}

/** From the status endpoints: two nodes reporting primary in one epoch, or an old primary that lingers. */
export function checkPrimaries(samples: StatusSample[], limits: LivenessLimits): Violation[] {
  const out: Violation[] = [];
  const rounds = new Map<number, StatusSample[]>();
  for (const s of samples) if (s.role === 'primary') (rounds.get(s.round) ?? rounds.set(s.round, []).get(s.round)!).push(s);
  const reported = new Set<string>();
  const staleSince = new Map<string, number>();
  for (const [, primaries] of [...rounds].sort((a, b) => a[0] - b[0])) {
    const top = Math.max(...primaries.map((p) => p.epoch));
    for (const p of primaries) {
      const twin = primaries.find((q) => q.node !== p.node && q.epoch === p.epoch);
      const pairKey = `${p.epoch}:${[p.node, twin?.node].sort().join(',')}`;
      if (twin && !reported.has(pairKey)) {
        reported.add(pairKey);
        out.push(violation('two-primaries', `${p.node} and ${twin.node} both reported role primary in epoch ${p.epoch} at ${Math.round(p.tMs)} ms`, p.tMs));
      }
      const key = `${p.node}@${p.epoch}`;
      if (p.epoch < top) {
        const since = staleSince.get(key) ?? p.tMs;
        staleSince.set(key, since);
        if (p.tMs - since > limits.stalePrimaryGraceMs && !reported.has(key)) {
          reported.add(key);
          out.push(violation('two-primaries', `${p.node} still reported role primary in epoch ${p.epoch} for ${Math.round(p.tMs - since)} ms while another node was primary in epoch ${top}`, p.tMs));
        }
      }
    }
  }
  return out;
}

/**
 * A fenced node steps down: it exits, or (the default since nodes rejoin) it says it rejoins the
 * owner as a secondary, within the grace, after each fence. A node printing DIVERGED is a replication bug.
 */
export function checkNodes(nodes: NodeRecord[], samples: StatusSample[], endMs: number, limits: LivenessLimits): Violation[] {
  const out: Violation[] = [];
  for (const n of nodes) {
    const diverged = n.notable.find((x) => x.line.includes('DIVERGED'));
    if (diverged) out.push(violation('divergence', `${n.id} diverged at ${diverged.atMs} ms: ${diverged.line}`, diverged.atMs));
    // Fenced: it said so, or its status said so (a fenced node may close its status endpoint at once).
    const said = n.notable.filter((x) => x.line.includes('FENCED')).map((x) => x.atMs);
    const seen = samples.find((s) => s.node === n.id && s.role === 'fenced')?.tMs;
    const fences = [...said, ...(seen !== undefined && said.length === 0 ? [seen] : [])];
    const rejoins = n.notable.filter((x) => /rejoining the owner/.test(x.line)).map((x) => x.atMs);
    for (const fencedAt of fences) {
      const steppedDownAt = Math.min(n.exitMs ?? endMs, rejoins.find((t) => t >= fencedAt) ?? Infinity);
      const runningMs = steppedDownAt - fencedAt;
      if (runningMs > limits.fencedExitGraceMs) out.push(violation('fenced-not-exited', `${n.id} was fenced at ${Math.round(fencedAt)} ms but neither exited nor rejoined as a secondary ${Math.round(runningMs)} ms later${n.exitMs === undefined ? ' (until the end of the run)' : ''}`, fencedAt));
    }
  }
  return out;
}

/** Longest stretch without a client answer between `fromMs` and `toMs`, counted from the last answer before `fromMs`. */
export function longestGap(answerTimes: number[], fromMs: number, toMs: number): number {
  let last = -Infinity;
  let longest = 0;
  for (const t of answerTimes) {
    if (t < fromMs) {
      last = t;
      continue;
    }
    if (t > toMs) {
      if (last > -Infinity) longest = Math.max(longest, t - last);
      return longest;
    }
    if (last > -Infinity) longest = Math.max(longest, t - last);
    last = t;
  }
  return Math.max(longest, last > -Infinity ? toMs - last : toMs - fromMs);
}

/** Fills each fault's gap and checks the liveness bounds. */
export function checkFaults(faults: FaultRecord[], answers: AnswerRecord[], endMs: number, limits: LivenessLimits): Violation[] {
  const times = answers.filter((a) => a.phase === 'load').map((a) => a.doneMs).sort((a, b) => a - b);
  const out: Violation[] = [];
  faults.forEach((f, i) => {
    const until = f.reprotectedMs ?? faults[i + 1]?.startMs ?? endMs;
    f.gapMs = Math.round(longestGap(times, f.startMs, Math.max(until, f.healMs)));
    if (f.gapMs > limits.gapMaxMs) out.push(violation('gap-too-long', `fault ${f.index} (${f.kind} of ${f.node}): no client got an answer for ${f.gapMs} ms (limit ${limits.gapMaxMs} ms)`, f.startMs));
    if (f.reprotectedMs === null) out.push(violation('not-reprotected', `fault ${f.index} (${f.kind} of ${f.node}): no primary was protected by a caught-up secondary again within the limit`, f.startMs));
  });
  return out;
}

/** '40x 503 not_live, 3x timeout', most frequent first. */
function tally(reasons: Record<string, number> | undefined): string {
  const entries = Object.entries(reasons ?? {}).sort((a, b) => b[1] - a[1]);
  return entries.length > 0 ? entries.map(([reason, n]) => `${n}x ${reason}`).join(', ') : 'none recorded';
}

export function checkKeys(keys: KeyRecord[]): Violation[] {
  const unanswered = keys.filter((k) => !k.first);
  if (unanswered.length === 0) return [];
  const first = unanswered[0]!;
  return [violation('keys-given-up', `${unanswered.length} of ${keys.length} keys got no answer from any node (first: ${first.key}, ${first.attempts} attempts: ${tally(first.retryReasons)}; the last: ${first.lastRetries?.join(', ') ?? 'none'})`, first.sentMs)];
}

export type FinalState =
  | { program: 'counter'; count: number }
  | { program: 'bank'; openingTotal: number; total: number; accounts: Record<string, number>; transfers: number }
  | { program: 'other' };

const firstAnswers = (keys: KeyRecord[]) => keys.flatMap((k) => (k.first && k.first.status === 200 ? [k.first] : []));

/** counter.js: every count told is distinct, and the final count covers all of them (and no key ran twice). */
export function checkCounter(keys: KeyRecord[], count: number): Violation[] {
  const told = firstAnswers(keys).map((a) => ({ a, count: (JSON.parse(a.body) as { count?: number }).count })).filter((x): x is { a: AnswerRecord; count: number } => typeof x.count === 'number');
  const out: Violation[] = [];
  const seen = new Map<number, AnswerRecord>();
  for (const { a, count: c } of told) {
    const earlier = seen.get(c);
    if (earlier) out.push(violation('invariant', `count ${c} was told to two keys: ${earlier.key} by ${earlier.node} and ${a.key} by ${a.node}`, a.doneMs));
    else seen.set(c, a);
  }
  const highest = told.reduce((m, x) => Math.max(m, x.count), 0);
  if (highest > count) out.push(violation('invariant', `a client was told count=${highest} but the final count is ${count}: ${highest - count} acknowledged increments vanished`));
  else if (count < told.length) out.push(violation('invariant', `${told.length} increments were acknowledged but the final count is ${count}`));
  if (count > keys.length) out.push(violation('invariant', `the final count ${count} exceeds the ${keys.length} keys sent: some key ran twice`));
  return out;
}

/** bank.js: the total is conserved, no balance is negative, receipts are distinct and covered by the final count. */
export function checkBank(keys: KeyRecord[], final: Extract<FinalState, { program: 'bank' }>): Violation[] {
  const out: Violation[] = [];
  if (final.total !== final.openingTotal) out.push(violation('invariant', `the bank's total is ${final.total}, it opened with ${final.openingTotal}: money was created or destroyed`));
  const sum = Object.values(final.accounts).reduce((s, v) => s + v, 0);
  if (sum !== final.total) out.push(violation('invariant', `the accounts sum to ${sum} but /total says ${final.total}`));
  for (const [name, balance] of Object.entries(final.accounts)) if (balance < 0) out.push(violation('invariant', `account ${name} is overdrawn: ${balance}`));
  const seen = new Map<number, AnswerRecord>();
  let highest = 0;
  for (const a of firstAnswers(keys)) {
    const id = (JSON.parse(a.body) as { id?: number }).id;
    if (typeof id !== 'number') continue;
    highest = Math.max(highest, id);
    const earlier = seen.get(id);
    if (earlier) out.push(violation('invariant', `transfer receipt #${id} was given to two keys: ${earlier.key} by ${earlier.node} and ${a.key} by ${a.node}`, a.doneMs));
    else seen.set(id, a);
  }
  if (highest > final.transfers) out.push(violation('invariant', `a client holds receipt #${highest} but the bank counts ${final.transfers} transfers: acknowledged transfers vanished`));
  if (final.transfers > keys.length) out.push(violation('invariant', `the bank counts ${final.transfers} transfers but only ${keys.length} keys were sent: some key ran twice`));
  return out;
}

export function checkGuest(keys: KeyRecord[], final: FinalState | undefined): Violation[] {
  if (!final) return [];
  switch (final.program) {
    case 'counter':
      return checkCounter(keys, final.count);
    case 'bank':
      return checkBank(keys, final);
    case 'other':
      return [];
    default: {
      const never: never = final;
      throw new Error(`unknown final state ${JSON.stringify(never)}`);
    }
  }
}

/** Every checker over one history. */
export function checkHistory(h: History, final: FinalState | undefined, limits: LivenessLimits): Violation[] {
  return [
    ...checkAnswers(h.answers),
    ...checkEpochs(h.answers),
    ...checkPrimaries(h.samples, limits),
    ...checkGuest(h.keys, final),
    ...checkNodes(h.nodes, h.samples, h.endMs, limits),
    ...checkFaults(h.faults, h.answers, h.endMs, limits),
    ...checkKeys(h.keys),
  ];
}
