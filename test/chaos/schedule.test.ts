// The fault schedule is a function of the seed and the kinds: the same seed reproduces it.
import { describe, expect, it } from 'vitest';
import { faultKinds, hostFaultKinds, HOSTS_KINDS, makeSchedule, parseKinds, SAFE_KINDS, type FaultKind } from '../../src/chaos/schedule.js';

describe('makeSchedule', () => {
  const make = (seed: number, kinds: FaultKind[] = [...faultKinds]) => makeSchedule({ seed, faults: 50, kinds, failureTimeoutMs: 600 });
  it('gives the same schedule for the same seed, another for another seed', () => {
    expect(make(42)).toEqual(make(42));
    expect(make(43)).not.toEqual(make(42));
  });
  it('uses only the kinds asked for, and over a long schedule all of them', () => {
    expect(new Set(make(1, [...SAFE_KINDS]).map((f) => f.kind))).toEqual(new Set(SAFE_KINDS));
    expect(new Set(makeSchedule({ seed: 1, faults: 500, kinds: [...faultKinds], failureTimeoutMs: 600 }).map((f) => f.kind))).toEqual(new Set(faultKinds));
  });
  it('gives timed faults durations on both sides of the failure timeout, kills none', () => {
    const s = makeSchedule({ seed: 7, faults: 500, kinds: ['stop-primary', 'kill-primary'], failureTimeoutMs: 600 });
    const stops = s.filter((f) => f.kind === 'stop-primary').map((f) => f.durationMs);
    expect(Math.min(...stops)).toBeLessThan(600);
    expect(Math.max(...stops)).toBeGreaterThan(600);
    expect(s.filter((f) => f.kind === 'kill-primary').every((f) => f.durationMs === 0)).toBe(true);
  });
});

describe('parseKinds', () => {
  it("reads 'safe', 'all' and lists, and refuses unknown kinds with the list of known ones", () => {
    expect(parseKinds('safe')).toEqual(SAFE_KINDS);
    expect(parseKinds('all')).toEqual(faultKinds);
    expect(parseKinds('link-cut, kill-primary')).toEqual(['link-cut', 'kill-primary']);
    expect(() => parseKinds('kill-everything')).toThrow(/unknown kind 'kill-everything'.*link-blackhole/);
  });
  it("reads 'hosts' and host kinds; 'all' stays the loopback kinds, so old seeds keep their schedules", () => {
    expect(parseKinds('hosts')).toEqual(HOSTS_KINDS);
    expect(parseKinds('net-cut,etcd-leader-kill')).toEqual(['net-cut', 'etcd-leader-kill']);
    expect(parseKinds('all').some((k) => (hostFaultKinds as readonly string[]).includes(k))).toBe(false);
  });
});

describe('host faults in a schedule', () => {
  it('draw the one-way side from the seed, only for net-cut-one-way, reproducibly', () => {
    const make = () => makeSchedule({ seed: 5, faults: 200, kinds: [...HOSTS_KINDS], failureTimeoutMs: 600 });
    const s = make();
    expect(s).toEqual(make());
    const oneWay = s.filter((f) => f.kind === 'net-cut-one-way');
    expect(new Set(oneWay.map((f) => f.from))).toEqual(new Set(['primary', 'secondary']));
    expect(s.filter((f) => f.kind !== 'net-cut-one-way').every((f) => f.from === undefined)).toBe(true);
    expect(s.filter((f) => f.kind.startsWith('net-') || f.kind === 'etcd-leader-kill').every((f) => f.durationMs > 0)).toBe(true);
  });
});
