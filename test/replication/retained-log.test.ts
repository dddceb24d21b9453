// The primary's retained log in process: numbering is checked, chunks never split an event and are
// bounded by count and bytes (but always hold at least one whole event), byte accounting, and the
// entriesMax bound drops the oldest entries.
import { describe, expect, it } from 'vitest';
import type { Entry } from '../../src/log/entries.js';
import { entryBytesEstimate, RetainedLog } from '../../src/replication/retained-log.js';

const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

const request = (body = ''): Entry => ({ kind: 'request', method: 'POST', path: '/x', headers: [['a', 'b']], body: utf8(body) });
const now = (ms: number): Entry => ({ kind: 'now', ms });
const random = (n: number): Entry => ({ kind: 'random', bytes: new Uint8Array(n) });
const timer = (timerId: number): Entry => ({ kind: 'timer', timerId });

function logOf(entries: Entry[], entriesMax?: number): RetainedLog {
  const log = new RetainedLog(entriesMax);
  entries.forEach((entry, i) => log.append(i + 1, entry));
  return log;
}

describe('RetainedLog numbering', () => {
  it('starts empty at #1 and holds entries numbered from 1 without gaps', () => {
    const log = new RetainedLog();
    expect(log.lastSeq).toBe(0);
    expect(log.retainedFrom).toBe(1);
    expect(log.chunk(1, 10)).toEqual([]);
    log.append(1, { kind: 'start' });
    log.append(2, timer(1));
    expect(log.lastSeq).toBe(2);
    expect(log.get(2)).toEqual(timer(1));
  });

  it('refuses a gap or a repeat (a broken invariant)', () => {
    const log = logOf([{ kind: 'start' }]);
    expect(() => log.append(3, timer(1))).toThrow(/got #3 after #1/);
    expect(() => log.append(1, timer(1))).toThrow(/got #1 after #1/);
    expect(log.lastSeq).toBe(1);
  });

  it('refuses get() outside the retained range', () => {
    const log = logOf([{ kind: 'start' }, timer(1)]);
    expect(() => log.get(0)).toThrow(/no #0/);
    expect(() => log.get(3)).toThrow(/no #3/);
  });
});

describe('RetainedLog.chunk', () => {
  // #1 start, #2 request, #3 now, #4 random, #5 now, #6 timer, #7 now, #8 request
  const entries: Entry[] = [{ kind: 'start' }, request(), now(1), random(4), now(2), timer(1), now(3), request()];

  it('never splits an event: the values of the last event come along, whatever countMax says', () => {
    const log = logOf(entries);
    expect(log.chunk(1, 1)).toEqual([entries[0]]);
    // The request at #2 takes its three values (#3..#5) with it.
    expect(log.chunk(2, 1)).toEqual(entries.slice(1, 5));
    expect(log.chunk(1, 2)).toEqual(entries.slice(0, 5));
    expect(log.chunk(6, 1)).toEqual(entries.slice(5, 7));
    expect(log.chunk(6, 100)).toEqual(entries.slice(5));
    expect(log.chunk(9, 100)).toEqual([]);
  });

  it('is bounded by count when the count ends on an event boundary', () => {
    const log = logOf(Array.from({ length: 10 }, (_, i) => timer(i)));
    expect(log.chunk(1, 3)).toHaveLength(3);
    expect(log.chunk(4, 3)[0]).toEqual(timer(3));
    expect(log.chunk(9, 3)).toHaveLength(2);
  });

  it('is bounded by bytes, but always holds at least one whole event', () => {
    const big = Array.from({ length: 6 }, () => request('x'.repeat(1_000)));
    const log = logOf(big);
    const one = entryBytesEstimate(big[0]);
    expect(log.chunk(1, 100, one * 2)).toHaveLength(2);
    expect(log.chunk(1, 100, one * 2 + one - 1)).toHaveLength(2);
    expect(log.chunk(1, 100, one * 3)).toHaveLength(3);
    // A budget smaller than one entry still moves the log forward by one whole event.
    expect(log.chunk(1, 100, 1)).toHaveLength(1);
    expect(log.chunk(5, 100, 1)).toEqual([big[4]]);
  });

  it('a tiny byte budget still brings the whole event, values included', () => {
    const log = logOf([request('y'.repeat(500)), now(1), random(64), timer(2)]);
    expect(log.chunk(1, 100, 1)).toHaveLength(3);
  });
});

describe('RetainedLog byte accounting', () => {
  it('bytesThrough and bytesAfter add up the estimates of the entries', () => {
    const entries: Entry[] = [{ kind: 'start' }, request('abc'), now(1), random(16), timer(4)];
    const log = logOf(entries);
    const sizes = entries.map(entryBytesEstimate);
    const sum = (n: number) => sizes.slice(0, n).reduce((a, b) => a + b, 0);
    expect(log.bytesThrough(0)).toBe(0);
    for (let seq = 1; seq <= entries.length; seq++) expect(log.bytesThrough(seq)).toBe(sum(seq));
    // Past the end counts up to the last entry.
    expect(log.bytesThrough(99)).toBe(sum(entries.length));
    expect(log.bytesAfter(0)).toBe(sum(entries.length));
    expect(log.bytesAfter(2)).toBe(sum(entries.length) - sum(2));
    expect(log.bytesAfter(entries.length)).toBe(0);
  });

  it('estimates a request by its body, path and headers', () => {
    const small = entryBytesEstimate(request(''));
    expect(entryBytesEstimate(request('z'.repeat(1_000)))).toBe(small + 1_000);
    expect(entryBytesEstimate(random(100))).toBeGreaterThanOrEqual(100);
  });
});

describe('RetainedLog entriesMax bound', () => {
  it('drops the oldest entries past the bound; retainedFrom moves and numbering goes on', () => {
    const entriesMax = 4;
    const entries = Array.from({ length: 10 }, (_, i) => request('b'.repeat(i)));
    const log = logOf(entries, entriesMax);
    expect(log.lastSeq).toBe(10);
    expect(log.retainedFrom).toBe(7);
    expect(log.get(7)).toEqual(entries[6]);
    expect(() => log.get(6)).toThrow(/no #6/);
    expect(log.chunk(7, 100)).toEqual(entries.slice(6));
    log.append(11, timer(1));
    expect(log.retainedFrom).toBe(8);
  });

  it('keeps byte totals since #1 across the drop', () => {
    const entries = Array.from({ length: 10 }, (_, i) => request('c'.repeat(i * 10)));
    const bounded = logOf(entries, 3);
    const whole = logOf(entries);
    for (let seq = bounded.retainedFrom; seq <= 10; seq++) expect(bounded.bytesThrough(seq)).toBe(whole.bytesThrough(seq));
    // Just before the retained range: the total of everything dropped.
    expect(bounded.bytesThrough(bounded.retainedFrom - 1)).toBe(whole.bytesThrough(bounded.retainedFrom - 1));
    expect(bounded.bytesAfter(bounded.retainedFrom - 1)).toBe(whole.bytesAfter(bounded.retainedFrom - 1));
  });
});

describe('RetainedLog byte bound', () => {
  it('keeps its estimated bytes under the bound, dropping the oldest entries (retainedFrom moves)', () => {
    const log = new RetainedLog(1_000_000, 100_000);
    const body = utf8('b'.repeat(1000));
    for (let seq = 1; seq <= 1000; seq++) log.append(seq, { kind: 'request', method: 'POST', path: '/', headers: [], body });
    expect(log.retainedBytes).toBeLessThanOrEqual(100_000);
    expect(log.retainedBytes).toBeGreaterThan(80_000);
    expect(log.lastSeq).toBe(1000);
    expect(log.retainedFrom).toBeGreaterThan(900);
    expect(log.bytesAfter(log.retainedFrom - 1)).toBe(log.retainedBytes);
    expect(() => log.chunk(1, 10)).toThrow(/keeps entries only from/);
  });
});

describe('RetainedLog sealed segments', () => {
  // Events of one to four entries: requests with bodies, clock reads, random bytes, timers.
  function history(n: number): Entry[] {
    const entries: Entry[] = [{ kind: 'start' }];
    for (let i = 1; entries.length < n; i++) {
      entries.push(i % 3 === 0 ? timer(i) : request(`body ${i}`));
      for (let v = 0; v < i % 4; v++) entries.push(v % 2 === 0 ? now(1000 + i * 10 + v) : random(v + 1));
    }
    return entries.slice(0, n);
  }

  it('gives back every entry exactly, from objects and from sealed segments alike', () => {
    const entries = history(2000);
    const log = logOf(entries);
    expect(log.lastSeq).toBe(2000);
    for (let seq = 1; seq <= 2000; seq++) expect(log.get(seq)).toEqual(entries[seq - 1]);
  });

  it('chunks across segment boundaries as it did from objects', () => {
    const entries = history(3000);
    const log = logOf(entries);
    for (const from of [1, 255, 256, 257, 511, 1024, 2600]) {
      const chunk = log.chunk(from, 700);
      expect(chunk.length).toBeGreaterThanOrEqual(Math.min(700, 3001 - from));
      expect(chunk).toEqual(entries.slice(from - 1, from - 1 + chunk.length));
    }
  });

  it('drops through the middle of a sealed segment and keeps the rest readable', () => {
    const entries = history(1500);
    const log = logOf(entries);
    const bytesBefore = log.bytesThrough(1500);
    log.dropThrough(300);
    expect(log.retainedFrom).toBe(301);
    expect(log.get(301)).toEqual(entries[300]);
    expect(() => log.get(300)).toThrow(/no #300/);
    expect(log.chunk(301, 10_000)).toEqual(entries.slice(300));
    expect(log.bytesThrough(1500)).toBe(bytesBefore);
    for (let seq = 1501; seq <= 2200; seq++) log.append(seq, timer(seq));
    log.dropThrough(1800);
    expect(log.chunk(1801, 10_000)).toEqual(Array.from({ length: 400 }, (_, i) => timer(1801 + i)));
  });

  it('bounds entries across segments (entriesMax) and starts after a checkpoint (firstSeq)', () => {
    const bounded = logOf(history(5000), 1000);
    expect(bounded.lastSeq - bounded.retainedFrom + 1).toBeLessThanOrEqual(1000);
    expect(bounded.get(bounded.retainedFrom)).toBeDefined();
    const after = new RetainedLog(undefined, undefined, 10_001);
    const entries = history(1200).slice(1);
    entries.forEach((entry, i) => after.append(10_001 + i, entry));
    expect(after.chunk(10_001, 10_000)).toEqual(entries);
  });
});
