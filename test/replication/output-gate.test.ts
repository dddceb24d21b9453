// The output rule in process: AckGate releases outputs in order once an ack covers them, and only
// under the lease (a stored answer too); after a secondary attaches (regate) it gates on its acks.
// OpenGate waits for nothing.
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

  it('holds an output already covered by acks while the lease has lapsed, and releases it at the next ack under a lease', () => {
    let lease = true;
    let leaseWaits = 0;
    const gate = new AckGate(() => lease, () => leaseWaits++);
    gate.ack(5);
    const released = holdAll(gate, [3]); // a stored answer to a re-asked key, its entries acknowledged
    expect(released).toEqual([3]);
    lease = false;
    holdAll(gate, [4]).forEach((seq) => released.push(seq));
    const late: number[] = [];
    gate.hold(2, () => late.push(2));
    expect(late).toEqual([]);
    expect(gate.waiting).toBe(2);
    expect(leaseWaits).toBe(2);
    lease = true;
    gate.ack(5); // the owner renewed the lease: the same ack again releases them
    expect(late).toEqual([2]);
    expect(gate.waiting).toBe(0);
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
  });

  it('regate(haveSeq): new outputs, and stored answers after haveSeq, wait for acks past haveSeq', () => {
    const gate = new AckGate();
    gate.openAll();
    // A primary alone answered up to entry #100, then a secondary attaches holding #1..#40.
    gate.regate(40);
    expect(gate.isOpen).toBe(false);
    expect(gate.acked).toBe(40);
    const released = holdAll(gate, [30, 90, 101, 105]);
    expect(released).toEqual([30]); // a stored answer the secondary already holds leaves at once
    gate.ack(100);
    expect(released).toEqual([30, 90]);
    gate.ack(105);
    expect(released).toEqual([30, 90, 101, 105]);
  });

  it('refuses regate while outputs wait or the gate is not open (a broken invariant, not an operating error)', () => {
    const closed = new AckGate();
    expect(() => closed.regate(0)).toThrow(/regate only from an open gate/);
    const gate = new AckGate();
    gate.openAll();
    gate.regate(0);
    holdAll(gate, [1]);
    expect(() => gate.regate(0)).toThrow(/regate only from an open gate/);
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
