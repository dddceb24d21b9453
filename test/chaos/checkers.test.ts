// The chaos checkers on synthetic histories: each catches the violation it names, and a clean
// history passes. No processes here: the checkers only ever see records.
import { describe, expect, it } from 'vitest';
import { checkAnswers, checkBank, checkCounter, checkEpochs, checkFaults, checkHistory, checkNodes, checkPrimaries, longestGap, type LivenessLimits } from '../../src/chaos/checkers.js';
import type { AnswerRecord, FaultRecord, History, KeyRecord, NodeRecord, StatusSample } from '../../src/chaos/history.js';
import { exitCodeOf, CHAOS_EXIT } from '../../src/chaos/report.js';

const limits: LivenessLimits = { gapMaxMs: 5000, fencedExitGraceMs: 3000, stalePrimaryGraceMs: 2000 };

function answer(key: string, node: string, doneMs: number, body: string, epoch = 0, phase: AnswerRecord['phase'] = 'load', status = 200): AnswerRecord {
  return { key, node, sentMs: doneMs - 5, doneMs, status, body, epoch, phase };
}

function keyOf(a: AnswerRecord | undefined, key = a?.key ?? 'k'): KeyRecord {
  return { key, index: 0, request: { method: 'POST', path: '/increment' }, sentMs: (a?.doneMs ?? 0) - 5, attempts: 1, first: a };
}

function sample(round: number, node: string, role: string, epoch: number, extra: Partial<StatusSample> = {}): StatusSample {
  return { round, tMs: round * 100, node, role, epoch, ...extra };
}

function node(id: string, extra: Partial<NodeRecord> = {}): NodeRecord {
  return { id, startedAs: 'primary', args: [], url: 'http://127.0.0.1:1', startMs: 0, notable: [], outputTail: '', ...extra };
}

describe('checkAnswers', () => {
  it('passes a key answered the same way twice (a retry that got the stored answer)', () => {
    expect(checkAnswers([answer('k1', 'n1', 10, '{"count":1}'), answer('k1', 'n2', 900, '{"count":1}', 1), answer('k1', 'n2', 2000, '{"count":1}', 1, 'readback')])).toEqual([]);
  });
  it('flags a key answered two ways during the run', () => {
    const v = checkAnswers([answer('k1', 'n1', 10, '{"count":1}'), answer('k1', 'n2', 900, '{"count":2}', 1)]);
    expect(v.map((x) => [x.kind, x.class])).toEqual([['conflicting-answers', 'correctness']]);
  });
  it('flags an acknowledged answer that a read-back no longer finds (the request ran again)', () => {
    const v = checkAnswers([answer('k1', 'n1', 10, '{"count":7}'), answer('k1', 'n2', 5000, '{"count":3}', 1, 'readback')]);
    expect(v.map((x) => x.kind)).toEqual(['lost-answer']);
    expect(v[0]!.message).toMatch(/count":7.*count":3/);
  });
});

describe('checkEpochs', () => {
  it('passes a failover: epoch 0 on n1, then epoch 1 on n2', () => {
    expect(checkEpochs([answer('a', 'n1', 100, 'x', 0), answer('b', 'n1', 200, 'x', 0), answer('c', 'n2', 900, 'x', 1), answer('d', 'n2', 1000, 'x', 2)])).toEqual([]);
  });
  it('flags two nodes answering in one epoch at overlapping times (a restarted primary beside the survivor)', () => {
    const v = checkEpochs([answer('a', 'n2', 100, 'x', 1), answer('b', 'n3', 200, 'x', 1), answer('c', 'n2', 300, 'x', 1)]);
    expect(v.map((x) => x.kind)).toEqual(['two-nodes-one-epoch']);
  });
  it('passes two nodes in one epoch one after the other (a restart after the whole lineage was down)', () => {
    expect(checkEpochs([answer('a', 'n1', 100, 'x', 1), answer('b', 'n3', 5000, 'x', 1)])).toEqual([]);
  });
  it('flags an old epoch answering after a newer epoch answered elsewhere (a frozen primary waking up)', () => {
    const v = checkEpochs([answer('a', 'n1', 100, 'x', 0), answer('b', 'n2', 1000, 'x', 1), answer('c', 'n1', 2800, 'x', 0)]);
    expect(v.map((x) => x.kind)).toEqual(['stale-epoch-answer']);
  });
  it('tolerates an old-epoch answer delivered within the tolerance of the first new one', () => {
    expect(checkEpochs([answer('b', 'n2', 1000, 'x', 1), answer('c', 'n1', 1050, 'x', 0)])).toEqual([]);
  });
});

describe('checkPrimaries', () => {
  it('flags two nodes reporting primary in one epoch', () => {
    const v = checkPrimaries([sample(1, 'n2', 'primary', 1), sample(1, 'n3', 'primary', 1)], limits);
    expect(v.map((x) => x.kind)).toEqual(['two-primaries']);
  });
  it('tolerates an old primary for a moment, flags it past the grace', () => {
    const brief = [sample(1, 'n1', 'primary', 0), sample(1, 'n2', 'primary', 1), sample(3, 'n1', 'primary', 0), sample(3, 'n2', 'primary', 1)];
    expect(checkPrimaries(brief, limits)).toEqual([]);
    const lingering = [...brief, sample(40, 'n1', 'primary', 0), sample(40, 'n2', 'primary', 1)];
    expect(checkPrimaries(lingering, limits).map((x) => x.kind)).toEqual(['two-primaries']);
  });
});

describe('checkNodes', () => {
  it('flags a DIVERGED line', () => {
    const v = checkNodes([node('n2', { notable: [{ atMs: 50, line: '[secondary] DIVERGED: Replay diverged at entry #7' }] })], [], 1000, limits);
    expect(v.map((x) => [x.kind, x.class])).toEqual([['divergence', 'correctness']]);
  });
  it('flags a fenced node that neither exits nor rejoins, not one that exits or rejoins at once, after each fence', () => {
    const fenced = { notable: [{ atMs: 100, line: '[secondary] FENCED: lost the claim' }] };
    expect(checkNodes([node('n2', { ...fenced, exitMs: 300, exitCode: 10 })], [], 10_000, limits)).toEqual([]);
    expect(checkNodes([node('n2', fenced)], [], 10_000, limits).map((x) => [x.kind, x.class])).toEqual([['fenced-not-exited', 'liveness']]);
    const rejoined = { notable: [...fenced.notable, { atMs: 400, line: '[rejoin] fenced: rejoining the owner of epoch 2 at ws://x as its secondary (fresh state)' }] };
    expect(checkNodes([node('n2', rejoined)], [], 10_000, limits)).toEqual([]);
    const fencedAgain = { notable: [...rejoined.notable, { atMs: 5000, line: '[primary] FENCED: lost the claim for epoch 4' }] };
    expect(checkNodes([node('n2', fencedAgain)], [], 10_000, limits).map((x) => x.kind)).toEqual(['fenced-not-exited']);
  });
});

describe('guest invariants', () => {
  const told = (counts: number[]) => counts.map((c, i) => keyOf(answer(`k${i}`, 'n1', i, JSON.stringify({ count: c }))));
  it('counter: distinct counts covered by the final count pass', () => {
    expect(checkCounter(told([1, 2, 3]), 3)).toEqual([]);
  });
  it('counter: one count told twice (a fork) is flagged', () => {
    expect(checkCounter(told([1, 2, 2]), 3).map((x) => x.kind)).toEqual(['invariant']);
  });
  it('counter: a count told that the final state lacks (a loss) is flagged', () => {
    expect(checkCounter(told([1, 2, 3]), 2).map((x) => x.message)).toEqual([expect.stringMatching(/vanished/)]);
  });
  const bank = (total: number, accounts: Record<string, number>, transfers: number) => ({ program: 'bank' as const, openingTotal: 4000, total, accounts, transfers });
  const receipts = (ids: number[]) => ids.map((id, i) => keyOf(answer(`k${i}`, 'n1', i, JSON.stringify({ id, from: 'alice', to: 'bob', amount: 1 }))));
  it('bank: conserved total and covered receipts pass', () => {
    expect(checkBank(receipts([1, 2]), bank(4000, { alice: 998, bob: 1002, carol: 1000, dave: 1000 }, 2))).toEqual([]);
  });
  it('bank: money created, a receipt given twice, and a vanished transfer are flagged', () => {
    const v = checkBank(receipts([1, 2, 2, 5]), bank(4010, { alice: 1010, bob: 1000, carol: 1000, dave: 1000 }, 4));
    expect(v.map((x) => x.message)).toEqual([expect.stringMatching(/total is 4010/), expect.stringMatching(/#2 was given to two keys/), expect.stringMatching(/receipt #5.*4 transfers/)]);
  });
});

describe('liveness', () => {
  it('longestGap counts from the last answer before the fault', () => {
    expect(longestGap([100, 200, 1200, 1300], 500, 2000)).toBe(1000);
    expect(longestGap([100], 500, 2000)).toBe(1900);
  });
  it('flags a gap past the limit and a fault never re-protected', () => {
    const faults: FaultRecord[] = [
      { index: 0, kind: 'kill-primary', node: 'n1', startMs: 1000, healMs: 1000, reprotectedMs: 9000, gapMs: 0, notes: [] },
      { index: 1, kind: 'kill-secondary', node: 'n3', startMs: 10_000, healMs: 10_000, reprotectedMs: null, gapMs: 0, notes: [] },
    ];
    const answers = [answer('a', 'n1', 900, 'x'), answer('b', 'n2', 7000, 'x', 1), answer('c', 'n2', 10_100, 'x', 2)];
    const v = checkFaults(faults, answers, 12_000, limits);
    expect(faults[0]!.gapMs).toBe(6100);
    expect(v.map((x) => x.kind)).toEqual(['gap-too-long', 'not-reprotected']);
  });
});

describe('exit codes', () => {
  it('correctness beats harness beats liveness', () => {
    const clean: History = { answers: [answer('k', 'n1', 10, '{"count":1}')], keys: [keyOf(answer('k', 'n1', 10, '{"count":1}'))], samples: [], nodes: [node('n1')], faults: [], endMs: 100 };
    expect(checkHistory(clean, { program: 'counter', count: 1 }, limits)).toEqual([]);
    expect(exitCodeOf([], null)).toBe(CHAOS_EXIT.ok);
    const lost = checkHistory(clean, { program: 'counter', count: 0 }, limits);
    const slow = checkFaults([{ index: 0, kind: 'kill-primary', node: 'n1', startMs: 0, healMs: 0, reprotectedMs: null, gapMs: 0, notes: [] }], [], 100, limits);
    expect(exitCodeOf([...slow, ...lost], 'boom')).toBe(20);
    expect(exitCodeOf(slow, 'boom')).toBe(22);
    expect(exitCodeOf(slow, null)).toBe(21);
  });
});
