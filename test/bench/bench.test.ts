// The quick benchmark on a tiny budget: every figure is present and plausible, and the JSON and
// HTML outputs exist and contain them. No test here asserts a speed.
// Workers and nodes run from dist/: `npm test` compiles first (tsc -p .).
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { benchCommand } from '../../src/bench/bench-command.js';
import { FAILURE_TIMEOUT_MS_DEFAULT, HEARTBEAT_INTERVAL_MS_DEFAULT } from '../../src/channel/channel-server.js';
import { WORKER_SCRIPT, GUEST_PROGRAMS_DIR } from '../../src/bench/processes.js';
import type { BenchResults } from '../../src/bench/results.js';
import type { Spread } from '../../src/bench/stats.js';
import { guestPrograms } from '../../src/bench/workloads.js';

// A tiny budget: three guests recorded, two workloads replicated vs unreplicated, one failover of each kind.
const BENCH_GUESTS = ['bench-trivial.js', 'bench-clock.js', 'bench-disk.js'];
const WORKLOADS = ['write', 'disk-read'];

function plausible(s: Spread | undefined, what: string): void {
  expect(s, what).toBeDefined();
  for (const v of [s!.median, s!.min, s!.max, ...s!.samples]) {
    expect(Number.isFinite(v), `${what} is finite (${v})`).toBe(true);
    expect(v, what).toBeGreaterThan(0);
  }
  expect(s!.samples.length, `${what} samples`).toBeGreaterThan(0);
}

function ratio(s: Spread | undefined, what: string): void {
  // Present and finite only: on the suite's tiny budget a ratio is noise, and no test asserts a speed.
  plausible(s, what);
}

describe('lockstep bench (quick, tiny budget)', () => {
  let dir: string;
  let results: BenchResults;
  let lines: string[];
  let code: number;

  beforeAll(async () => {
    if (!existsSync(WORKER_SCRIPT)) throw new Error(`${WORKER_SCRIPT} is missing: compile first (npx tsc -p .)`);
    dir = mkdtempSync(join(tmpdir(), 'lockstep-bench-test-'));
    lines = [];
    code = await benchCommand(
      { quick: true, reps: 1, budgetMs: 300, out: dir, programs: BENCH_GUESTS.map((n) => join(GUEST_PROGRAMS_DIR, n)), workloads: WORKLOADS, failoverTrials: 1 },
      (line) => lines.push(line),
    );
    if (code === 0) results = JSON.parse(readFileSync(join(dir, 'bench.json'), 'utf8')) as BenchResults;
  }, 180_000);

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('finishes with exit code 0 and prints progress and the tables', () => {
    expect(code, lines.join('\n')).toBe(0);
    expect(lines.some((l) => l.startsWith('[rep 1/1]'))).toBe(true);
    expect(lines.some((l) => l.startsWith('machine: '))).toBe(true);
    expect(lines.some((l) => l.startsWith('pinning: '))).toBe(true);
    expect(lines.some((l) => /^replicated: /.test(l))).toBe(true);
    expect(lines.some((l) => l.includes('lockstep run / raw call loop'))).toBe(true);
  });

  it('has the machine and the settings', () => {
    expect(results.machine.cores).toBeGreaterThan(0);
    expect(results.machine.node).toBe(process.version);
    expect(results.machine.cpuModel.length).toBeGreaterThan(0);
    expect(results.settings).toMatchObject({ quick: true, reps: 1, durationMs: 300 });
  });

  it('has requests/s of the trivial guest under lockstep run and in the two in-process loops, and their ratios', () => {
    const names = results.throughput.rows.map((r) => r.name);
    expect(names).toEqual(['bare-node-http', 'lockstep-run', 'lockstep-run+record', 'replicated', 'guest-deliver', 'raw-call']);
    for (const row of results.throughput.rows) {
      plausible(row.requestsPerS, `${row.name} req/s`);
      if (row.name.startsWith('lockstep-run') || row.name === 'replicated' || row.name === 'bare-node-http') {
        plausible(row.p50Ms, `${row.name} p50`);
        plausible(row.p99Ms, `${row.name} p99`);
      }
    }
    const r = results.throughput.ratios;
    ratio(r.lockstepRunVsBareNode, 'lockstep run / bare node:http');
    ratio(r.lockstepRunVsRawCall, 'lockstep run / raw call');
    ratio(r.guestDeliverVsRawCall, 'Guest.deliver / raw call');
    ratio(r.lockstepRunVsGuestDeliver, 'lockstep run / Guest.deliver');
    plausible(r.recordVsLockstepRun, 'lockstep run --record / lockstep run');
    ratio(r.replicatedVsLockstepRun, 'replicated / lockstep run');
    expect(results.replicated).toMatchObject({ available: true });
  });

  it('has log bytes per event and per input byte, and replay vs live speed, for every bench guest', () => {
    expect(results.programs.map((p) => p.program)).toEqual(BENCH_GUESTS);
    for (const p of results.programs) {
      expect(p.error, p.program).toBeUndefined();
      plausible(p.requestsPerS, `${p.program} req/s`);
      plausible(p.p50Ms, `${p.program} p50`);
      plausible(p.p99Ms, `${p.program} p99`);
      plausible(p.eventsPerRequest, `${p.program} events/request`);
      plausible(p.logBytesPerRequest, `${p.program} log B/request`);
      plausible(p.logBytesPerEvent, `${p.program} log B/event`);
      plausible(p.logBytesPerInputByte, `${p.program} log B/input B`);
      plausible(p.liveEventsPerS, `${p.program} live events/s`);
      plausible(p.replayEventsPerS, `${p.program} replay events/s`);
      ratio(p.liveVsReplay, `${p.program} live/replay`);
      expect(p.non2xxAnswers, p.program).toBe(0);
    }
    const byName = new Map(results.programs.map((p) => [p.program, p]));
    // Shape, not speed: a read is an event of its own and carries the 4 KB file in the log.
    expect(byName.get('bench-disk.js')!.eventsPerRequest.median).toBeGreaterThan(1.5);
    expect(byName.get('bench-disk.js')!.logBytesPerRequest.median).toBeGreaterThan(4096);
    expect(byName.get('bench-clock.js')!.clockReadsPerRequest.median).toBeGreaterThanOrEqual(50);
    expect(byName.get('bench-trivial.js')!.clockReadsPerRequest.median).toBeLessThan(1);
  });

  it('has replicated vs unreplicated figures per workload, the ws round trip, and CPU per process', () => {
    const rep = results.replication!;
    expect(rep).toBeDefined();
    plausible(rep.wsRtt.p50Ms, 'ws RTT p50');
    plausible(rep.wsRtt.p99Ms, 'ws RTT p99');
    expect(rep.wsRtt.messageBytes).toBe(35);
    expect(rep.workloads.map((w) => w.workload)).toEqual(WORKLOADS);
    for (const w of rep.workloads) {
      const what = (x: string) => `${w.workload} ${x}`;
      for (const [k, v] of Object.entries(w.unreplicated)) plausible(v, what(`unreplicated ${k}`));
      for (const [k, v] of Object.entries(w.replicated)) plausible(v, what(`replicated ${k}`));
      ratio(w.throughputRatio, what('throughput ratio'));
      // Differences of latencies may be negative on a noisy machine: finite is all we ask.
      for (const s of [w.addedP50Ms, w.addedP99Ms]) expect(s.samples.every(Number.isFinite), what('added latency')).toBe(true);
      for (const k of ['wireBytesPerRequest', 'inputBytesPerRequest', 'logBytesPerRequest', 'logBytesPerInputByte', 'logBytesPerS', 'inputBytesPerS', 'ruleOfThumbBytesPerS', 'eventsPerRequest', 'goalLogBytesPerRequest'] as const) plausible(w[k], what(k));
      // A write completion is a logged event that carries no input: the write workload's log outweighs its small input.
      if (w.workload === 'write') plausible(w.logBytesPerInputByte, what('log B/input B'));
      else ratio(w.logBytesPerInputByte, what('log B/input B'));
      // Every request's entries travel in some frame, and acks come back: both counts are there.
      plausible(w.framesSentPerRequest, what('frames sent per request'));
      plausible(w.framesReceivedPerRequest, what('frames received per request'));
      for (const s of [w.lagEntriesP50, w.lagEntriesMax, w.lagMsP50, w.lagMsMax]) {
        expect(s.samples.length, what('lag samples')).toBeGreaterThan(0);
        for (const v of s.samples) expect(Number.isFinite(v) && v >= 0, what(`lag ${v}`)).toBe(true);
      }
    }
    const disk = rep.workloads.find((w) => w.workload === 'disk-read')!;
    expect(disk.diskReadBytesPerRequest).toBe(4096);
    expect(disk.inputBytesPerRequest.median).toBeGreaterThan(4096);
    expect(disk.eventsPerRequest.median).toBeGreaterThan(1.5);
  });

  it('kills a primary under load and reports detection, go-live and the client gap with nothing lost', () => {
    const f = results.replication!.failover!;
    expect(f.trials.length).toBe(1);
    for (const d of [f.detectionMs, f.goLiveMs, f.clientGapMs]) {
      expect(d.n).toBe(1);
      for (const v of [d.p50, d.p99, d.max]) expect(Number.isFinite(v) && v >= 0, `failover figure ${v}`).toBe(true);
    }
    expect(f.goLiveMs.p50).toBeGreaterThanOrEqual(f.detectionMs.p50);
    expect(f.lostTotal).toBe(0);
    expect(f.trials[0]!.answered).toBeGreaterThan(0);
  });

  it('hangs a primary (SIGSTOP) and reports failover by the failure timeout, with nothing lost', () => {
    const f = results.replication!.hangFailover!;
    expect(f.trials.length).toBe(1);
    for (const d of [f.detectionMs, f.goLiveMs, f.clientGapMs]) {
      for (const v of [d.p50, d.p99, d.max]) expect(Number.isFinite(v) && v >= 0, `hang failover figure ${v}`).toBe(true);
    }
    // A hung primary keeps its connection open: only silence for the failure timeout reveals it (its
    // last frame may have left up to one heartbeat interval before the stop).
    expect(f.detectionMs.p50).toBeGreaterThanOrEqual(FAILURE_TIMEOUT_MS_DEFAULT - HEARTBEAT_INTERVAL_MS_DEFAULT);
    expect(f.goLiveMs.p50).toBeGreaterThanOrEqual(f.detectionMs.p50);
    expect(f.lostTotal).toBe(0);
  });

  it('checks every goal, met or not, with a margin', () => {
    const goals = results.goals.map((g) => g.goal);
    expect(goals.filter((g) => g.startsWith('added latency p50')).length).toBe(WORKLOADS.length);
    expect(goals.filter((g) => g.startsWith('log bytes per request')).length).toBe(WORKLOADS.length);
    expect(goals.some((g) => g.startsWith('failover client gap p99'))).toBe(true);
    expect(goals.filter((g) => g.startsWith('replay catch-up')).length).toBe(3);
    // Issue 10's table: every figure beside its goal.
    expect(goals[0]).toMatch(/^lockstep run \/ bare node:http/);
    expect(goals.some((g) => g.startsWith('write per request (bench-write.js) unreplicated'))).toBe(true);
    expect(goals.some((g) => g.startsWith('failover client gap p99, hung primary'))).toBe(true);
    expect(goals.some((g) => g.startsWith('log bytes per clock read'))).toBe(true);
    for (const g of results.goals) {
      expect(Number.isFinite(g.measured), g.goal).toBe(true);
      expect(g.margin).toMatch(g.met ? /^met: / : /^not met: /);
    }
  });

  it('writes a self-contained HTML report with the figures', () => {
    const html = readFileSync(join(dir, 'report.html'), 'utf8');
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html).toContain('<svg');
    expect(html).not.toMatch(/<(script|link|img)[^>]+(src|href)=/i);
    for (const name of [...BENCH_GUESTS, 'lockstep-run', 'lockstep-run+record', 'guest-deliver', 'raw-call', 'Log bytes per event', 'Replay speed vs live speed', 'Throughput replicated / unreplicated', 'Latency with one client', "rule of thumb", 'Client-visible gap', 'Goals']) expect(html).toContain(name);
    expect(html).toContain(results.machine.cpuModel);
  });

  it('lists every guest program in guest-programs/ by default, the trivial one first', () => {
    const all = guestPrograms().map((p) => p.split('/').pop());
    expect(all[0]).toBe('bench-trivial.js');
    expect(all).toEqual(expect.arrayContaining(BENCH_GUESTS));
  });
});
