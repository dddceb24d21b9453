// The quick benchmark on a tiny budget: every figure is present and plausible, and the JSON and
// HTML outputs exist and contain them. No test here asserts a speed.
// Workers and nodes run from dist/: `npm test` compiles first (tsc -p .).
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { benchCommand } from '../../src/bench/bench-command.js';
import { WORKER_SCRIPT, GUEST_PROGRAMS_DIR } from '../../src/bench/processes.js';
import type { BenchResults } from '../../src/bench/results.js';
import type { Spread } from '../../src/bench/stats.js';
import { guestPrograms } from '../../src/bench/workloads.js';

const BENCH_GUESTS = ['bench-trivial.js', 'bench-cpu.js', 'bench-clock.js', 'bench-random.js', 'bench-body.js', 'bench-disk.js', 'bench-timer.js'];

function plausible(s: Spread | undefined, what: string): void {
  expect(s, what).toBeDefined();
  for (const v of [s!.median, s!.min, s!.max, ...s!.samples]) {
    expect(Number.isFinite(v), `${what} is finite (${v})`).toBe(true);
    expect(v, what).toBeGreaterThan(0);
  }
  expect(s!.samples.length, `${what} samples`).toBeGreaterThan(0);
}

function ratio(s: Spread | undefined, what: string): void {
  plausible(s, what);
  expect(s!.median, what).toBeLessThan(2);
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
      // The replicated configuration is left out here: it belongs to the replication layer's own tests.
      { quick: true, reps: 1, budgetMs: 300, out: dir, programs: BENCH_GUESTS.map((n) => join(GUEST_PROGRAMS_DIR, n)), noReplicated: true },
      (line) => lines.push(line),
    );
    if (code === 0) results = JSON.parse(readFileSync(join(dir, 'bench.json'), 'utf8')) as BenchResults;
  }, 60_000);

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
    expect(names).toEqual(['lockstep-run', 'lockstep-run+record', 'guest-deliver', 'raw-call']);
    for (const row of results.throughput.rows) {
      plausible(row.requestsPerS, `${row.name} req/s`);
      if (row.name.startsWith('lockstep-run')) {
        plausible(row.p50Ms, `${row.name} p50`);
        plausible(row.p99Ms, `${row.name} p99`);
      }
    }
    const r = results.throughput.ratios;
    ratio(r.lockstepRunVsRawCall, 'lockstep run / raw call');
    ratio(r.guestDeliverVsRawCall, 'Guest.deliver / raw call');
    ratio(r.lockstepRunVsGuestDeliver, 'lockstep run / Guest.deliver');
    plausible(r.recordVsLockstepRun, 'lockstep run --record / lockstep run');
    expect(results.replicated).toMatchObject({ available: false });
  });

  it('has log bytes per event and per input byte, and replay vs live speed, for every bench guest', () => {
    expect(results.programs.map((p) => p.program)).toEqual(BENCH_GUESTS);
    for (const p of results.programs) {
      expect(p.error, p.program).toBeUndefined();
      plausible(p.requestsPerS, `${p.program} req/s`);
      plausible(p.p50Ms, `${p.program} p50`);
      plausible(p.p99Ms, `${p.program} p99`);
      plausible(p.eventsPerRequest, `${p.program} events/request`);
      plausible(p.logBytesPerEvent, `${p.program} log B/event`);
      plausible(p.logBytesPerInputByte, `${p.program} log B/input B`);
      plausible(p.liveEventsPerS, `${p.program} live events/s`);
      plausible(p.replayEventsPerS, `${p.program} replay events/s`);
      ratio(p.liveVsReplay, `${p.program} live/replay`);
      expect(p.non2xxAnswers, p.program).toBe(0);
    }
    const byName = new Map(results.programs.map((p) => [p.program, p]));
    // Shape, not speed: a 4 KB body is carried in the log; timers and reads are events of their own.
    expect(byName.get('bench-body.js')!.logBytesPerEvent.median).toBeGreaterThan(4096);
    expect(byName.get('bench-timer.js')!.eventsPerRequest.median).toBeGreaterThan(2);
    expect(byName.get('bench-disk.js')!.eventsPerRequest.median).toBeGreaterThan(1.5);
  });

  it('writes a self-contained HTML report with the figures', () => {
    const html = readFileSync(join(dir, 'report.html'), 'utf8');
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html).toContain('<svg');
    expect(html).not.toMatch(/<(script|link|img)[^>]+(src|href)=/i);
    for (const name of [...BENCH_GUESTS, 'lockstep-run', 'lockstep-run+record', 'guest-deliver', 'raw-call', 'Log bytes per event', 'Replay speed vs live speed']) expect(html).toContain(name);
    expect(html).toContain(results.machine.cpuModel);
  });

  it('lists every guest program in guest-programs/ by default, the trivial one first', () => {
    const all = guestPrograms().map((p) => p.split('/').pop());
    expect(all[0]).toBe('bench-trivial.js');
    expect(all).toEqual(expect.arrayContaining(BENCH_GUESTS));
  });
});
