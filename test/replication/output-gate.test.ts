// The output rule in process: AckGate releases outputs in order once an ack covers them, and keeps
// answers released while it was open released after a secondary attaches (regate). OpenGate waits
// for nothing.
import { describe, expect, it } from 'vitest';
import { AckGate, OpenGate, type OutputGate } from '../../src/replication/output-gate.js';

/** Holds outputs gated on `seqs` and records the order they are released in. */
function holdAll(gate: AckGate, seqs: number[]): number[] {
  const released: number[] = [];
  for (const seq of seqs) gate.hold(seq, () => released.push(seq));
  return released;
}

describe('OpenGate', () => {
  it('releases at once, waits for nothing and calls everything released', () => {
    const gate: OutputGate = new OpenGate();
    const released: number[] = [];
    gate.hold(7, () => released.push(7));
    gate.hold(3, () => released.push(3));
    expect(released).toEqual([7, 3]);
    expect(gate.waiting).toBe(0);
    expect(gate.isReleased(1_000_000)).toBe(true);
  });
});

describe('AckGate', () => {
  it('holds every output until an ack covers its entry, then releases them in order', () => {
    const gate = new AckGate();
    const released = holdAll(gate, [2, 4, 4, 9]);
    expect(released).toEqual([]);
    expect(gate.waiting).toBe(4);

    gate.ack(3);
    expect(released).toEqual([2]);
    expect(gate.waiting).toBe(3);
    gate.ack(8);
    expect(released).toEqual([2, 4, 4]);
    expect(gate.waiting).toBe(1);
    gate.ack(9);
    expect(released).toEqual([2, 4, 4, 9]);
    expect(gate.waiting).toBe(0);
    expect(gate.acked).toBe(9);
  });

  it('releases at once an output whose entry is already acknowledged', () => {
    const gate = new AckGate();
    gate.ack(10);
    const released = holdAll(gate, [5, 10]);
    expect(released).toEqual([5, 10]);
    expect(gate.waiting).toBe(0);
    gate.hold(11, () => released.push(11));
    expect(released).toEqual([5, 10]);
    expect(gate.waiting).toBe(1);
  });

  it('ignores an ack that does not move forward (late or repeated)', () => {
    const gate = new AckGate();
    const released = holdAll(gate, [5]);
    gate.ack(6);
    gate.ack(2);
    gate.ack(6);
    expect(gate.acked).toBe(6);
    expect(released).toEqual([5]);
  });

  it('answers isReleased by ack coverage', () => {
    const gate = new AckGate();
    holdAll(gate, [3, 6]);
    expect(gate.isReleased(3)).toBe(false);
    gate.ack(4);
    expect(gate.isReleased(3)).toBe(true);
    expect(gate.isReleased(4)).toBe(true);
    expect(gate.isReleased(5)).toBe(false);
    expect(gate.isReleased(6)).toBe(false);
  });

  it('openAll releases everything waiting and gates nothing more', () => {
    const gate = new AckGate();
    const released = holdAll(gate, [1, 2, 50]);
    gate.ack(1);
    expect(gate.isOpen).toBe(false);
    gate.openAll();
    expect(gate.isOpen).toBe(true);
    expect(released).toEqual([1, 2, 50]);
    expect(gate.waiting).toBe(0);
    gate.hold(10_000, () => released.push(10_000));
    expect(released).toEqual([1, 2, 50, 10_000]);
    expect(gate.isReleased(Number.MAX_SAFE_INTEGER)).toBe(true);
  });

  it('regate(haveSeq, lastSeq): answers released while open stay released; new outputs wait for acks past haveSeq', () => {
    const gate = new AckGate();
    gate.openAll();
    // A primary alone answered up to entry #100, then a secondary attaches holding #1..#40.
    gate.regate(40, 100);
    expect(gate.isOpen).toBe(false);
    expect(gate.acked).toBe(40);
    // A retry with the same Idempotency-Key of an answer gated on #90 must not look unreleased.
    expect(gate.isReleased(90)).toBe(true);
    expect(gate.isReleased(100)).toBe(true);
    expect(gate.isReleased(101)).toBe(false);

    const released = holdAll(gate, [101, 105]);
    expect(released).toEqual([]);
    gate.ack(101);
    expect(released).toEqual([101]);
    gate.ack(105);
    expect(released).toEqual([101, 105]);
  });

  it('regate keeps the highest open-released entry across a second attach', () => {
    const gate = new AckGate();
    gate.openAll();
    gate.regate(0, 100);
    gate.openAll(); // the secondary failed; the primary won the claim and went on alone
    gate.regate(0, 60); // a lower lastSeq must not shrink what was already released
    expect(gate.isReleased(100)).toBe(true);
    expect(gate.isReleased(101)).toBe(false);
  });

  it('refuses regate while outputs wait or the gate is not open (a broken invariant, not an operating error)', () => {
    const closed = new AckGate();
    expect(() => closed.regate(0, 0)).toThrow(/regate only from an open gate/);
    const gate = new AckGate();
    gate.openAll();
    gate.regate(0, 0);
    holdAll(gate, [1]);
    expect(() => gate.regate(0, 1)).toThrow(/regate only from an open gate/);
  });

  it('keeps releasing in order after many outputs (internal queue compaction)', () => {
    const gate = new AckGate();
    const count = 5_000;
    const seqs = Array.from({ length: count }, (_, i) => i + 1);
    const released = holdAll(gate, seqs);
    for (let seq = 1; seq <= count; seq += 7) gate.ack(seq);
    gate.ack(count);
    expect(released).toEqual(seqs);
    expect(gate.waiting).toBe(0);
    const more = holdAll(gate, [count + 1, count + 2]);
    gate.ack(count + 1);
    expect(more).toEqual([count + 1]);
    expect(gate.waiting).toBe(1);
  });
});
