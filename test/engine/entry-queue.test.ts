// The replayer's in-order queue in process: numbering is checked at every push (a gap or a repeat
// is a LOCKSTEP_LOG_GAP error), and take/nextSeq/lastSeq/pending keep counting after compaction.
import { describe, expect, it } from 'vitest';
import { EntryQueue } from '../../src/engine/entry-queue.js';
import { LogFormatError } from '../../src/errors.js';
import type { Entry } from '../../src/log/entries.js';

const timers = (from: number, count: number): Entry[] => Array.from({ length: count }, (_, i) => ({ kind: 'timer', timerId: from + i }));

function pushError(queue: EntryQueue, firstSeq: number): LogFormatError {
  try {
    queue.push(firstSeq, timers(firstSeq, 1));
  } catch (error) {
    if (error instanceof LogFormatError) return error;
    throw error;
  }
  throw new Error(`push(${firstSeq}) was accepted`);
}

describe('EntryQueue', () => {
  it('starts empty at #1', () => {
    const queue = new EntryQueue();
    expect(queue.take()).toBeUndefined();
    expect(queue.nextSeq()).toBe(1);
    expect(queue.lastSeq()).toBe(0);
    expect(queue.pending).toBe(0);
  });

  it('hands entries out in order with their numbers', () => {
    const queue = new EntryQueue();
    queue.push(1, timers(1, 3));
    queue.push(4, timers(4, 2));
    expect(queue.lastSeq()).toBe(5);
    expect(queue.pending).toBe(5);
    expect(queue.take()).toEqual({ seq: 1, entry: { kind: 'timer', timerId: 1 } });
    expect(queue.nextSeq()).toBe(2);
    expect(queue.pending).toBe(4);
    const rest = [queue.take(), queue.take(), queue.take(), queue.take()].map((t) => t?.seq);
    expect(rest).toEqual([2, 3, 4, 5]);
    expect(queue.take()).toBeUndefined();
    expect(queue.nextSeq()).toBe(6);
    expect(queue.pending).toBe(0);
  });

  it('accepts an empty batch at the right number and changes nothing', () => {
    const queue = new EntryQueue();
    queue.push(1, []);
    queue.push(1, timers(1, 1));
    expect(queue.lastSeq()).toBe(1);
  });

  it('refuses a gap with LOCKSTEP_LOG_GAP, naming both numbers, and keeps what it held', () => {
    const queue = new EntryQueue();
    queue.push(1, timers(1, 3));
    const error = pushError(queue, 5);
    expect(error.code).toBe('LOCKSTEP_LOG_GAP');
    expect(error.message).toContain('#5');
    expect(error.message).toContain('#4');
    expect(queue.lastSeq()).toBe(3);
    queue.push(4, timers(4, 1));
    expect(queue.lastSeq()).toBe(4);
  });

  it('refuses a repeat, also of entries already taken', () => {
    const queue = new EntryQueue();
    queue.push(1, timers(1, 3));
    queue.take();
    queue.take();
    expect(pushError(queue, 3).code).toBe('LOCKSTEP_LOG_GAP');
    expect(pushError(queue, 1).code).toBe('LOCKSTEP_LOG_GAP');
    expect(queue.pending).toBe(1);
  });

  it('refuses a first batch that does not start at #1', () => {
    expect(pushError(new EntryQueue(), 2).code).toBe('LOCKSTEP_LOG_GAP');
    expect(pushError(new EntryQueue(), 0).code).toBe('LOCKSTEP_LOG_GAP');
  });

  it('keeps numbering right across compaction after many takes', () => {
    const queue = new EntryQueue();
    const total = 20_000;
    let next = 1;
    let taken = 0;
    // Interleave pushes and takes, so compaction happens with entries still pending.
    while (next <= total) {
      queue.push(next, timers(next, 1_000));
      next += 1_000;
      for (let i = 0; i < 900; i++) {
        const item = queue.take();
        taken++;
        // One expect per mismatch only: 20k expects would make a unit test slow.
        if (item?.seq !== taken || item.entry.kind !== 'timer' || item.entry.timerId !== taken) expect(item).toEqual({ seq: taken, entry: { kind: 'timer', timerId: taken } });
      }
      expect(queue.nextSeq()).toBe(taken + 1);
      expect(queue.lastSeq()).toBe(next - 1);
      expect(queue.pending).toBe(next - 1 - taken);
    }
    expect(pushError(queue, next + 1).code).toBe('LOCKSTEP_LOG_GAP');
    expect(pushError(queue, next - 1).code).toBe('LOCKSTEP_LOG_GAP');
    for (let item = queue.take(); item; item = queue.take()) if (item.seq !== ++taken) expect(item.seq).toBe(taken);
    expect(taken).toBe(total);
    expect(queue.nextSeq()).toBe(total + 1);
    queue.push(total + 1, timers(total + 1, 1));
    expect(queue.take()?.seq).toBe(total + 1);
  });
});
