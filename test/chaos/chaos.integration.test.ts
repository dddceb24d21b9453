// `lockstep chaos` end to end on real processes, short schedules with fixed seeds: the mix today's
// nodes survive exits 0 with a complete summary; and the checkers catch a real loss (primaries
// without the output rule, a stalled logging link, then a SIGKILL) with the correctness exit code.
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { chaosDefaults } from '../../src/chaos/chaos.js';
import type { ChaosSummary } from '../../src/chaos/report.js';
import { LOCKSTEP_BIN } from '../../src/demo/processes.js';

const COUNTER = new URL('../../guest-programs/counter.js', import.meta.url).pathname;
const dirs: string[] = [];
/** Process groups of chaos runs still going (each run and the nodes it spawned). */
const groups = new Set<number>();
afterAll(async () => {
  for (const group of groups) killGroup(group);
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

function killGroup(group: number): void {
  try {
    process.kill(-group, 'SIGKILL');
  } catch {
    /* already gone */
  }
}

/**
 * The longest a run of `faults` faults may take before the harness gives up by itself with its own
 * verdict (exit 22 and a summary naming what it waited for), plus its bounded cleanup; see runMsMax
 * and CLEANUP_STEP_MS_MAX in src/chaos/chaos.ts. A test bound below it (it was 120 s against up to
 * 206 s) turns any slow run into an opaque "hang" and leaves the run going while a retry starts.
 */
function harnessMsMax(faults: number, failureTimeoutMs: number): number {
  const runMsMax = faults * (chaosDefaults.reprotectMaxMs + failureTimeoutMs * 4 + 5000) + 120_000;
  return runMsMax + 3 * 10_000 + 20_000;
}

/** A test's bound: the harness's own, and time to kill and report. */
const boundFor = (faults: number, failureTimeoutMs: number) => harnessMsMax(faults, failureTimeoutMs) + 30_000;

async function chaos(args: string[], timeoutMs = 60_000): Promise<{ code: number | null; stdout: string; stderr: string; summary?: ChaosSummary }> {
  const dir = await mkdtemp(join(tmpdir(), 'lockstep-chaos-test-'));
  dirs.push(dir);
  const json = join(dir, 'summary.json');
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    // Its own process group, which the nodes it spawns join: on a timeout, nothing of it outlives the test.
    const child = spawn(process.execPath, [LOCKSTEP_BIN, 'chaos', '--json', json, ...args], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    groups.add(child.pid!);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      killGroup(child.pid!);
      reject(new Error(`lockstep chaos ${args.join(' ')} did not finish within ${timeoutMs} ms (killed with its nodes); its output so far:\n${stdout}\n${stderr.slice(-4000)}`));
    }, timeoutMs);
    child.on('exit', (c) => {
      clearTimeout(timer);
      killGroup(child.pid!); // nodes it failed to kill must not load the rest of the suite
      groups.delete(child.pid!);
      resolve({ code: c, stdout, stderr });
    });
  });
  const summary = await readFile(json, 'utf8').then((t) => JSON.parse(t) as ChaosSummary, () => undefined);
  return { code, stdout, stderr, summary };
}

// No retry: a run that does not finish is killed at the harness's own bound with what it printed, so
// the next occurrence says where it stood (issue 20: the retry hid a hang whose cause was not found).
describe('lockstep chaos', () => {
  // A 2 s failure timeout: a kill is noticed at once (the socket closes), and a busy test machine does
  // not fail over by itself (a false failover is a real event, but not the one this test is about).
  it('survives SIGKILLs of either role with re-protection: exit 0 and a complete summary', async () => {
    const { code, stdout, stderr, summary } = await chaos(['--seed', '63', '--faults', '2', '--fault-kinds', 'safe', '--program', COUNTER, '--rate', '40', '--failure-timeout-ms', '2000'], boundFor(2, 2000));
    expect(code, stdout + stderr).toBe(0);
    expect(stdout.split('\n')[0]).toBe('SEED=63');
    // Seed 63 schedules one fault of each safe kind, the primary first.
    expect(stdout).toMatch(/schedule: kill-primary kill-secondary\n/);
    expect(stdout).toMatch(/RESULT: ok \(exit 0\)/);
    const s = summary!;
    expect(s.seed).toBe(63);
    expect(s.faultsRun).toBe(2);
    expect(s.violations).toEqual({ correctness: 0, liveness: 0, examples: [] });
    expect(s.keys.sent).toBeGreaterThan(50);
    expect(s.keys.answered).toBe(s.keys.sent);
    expect(s.keys.readback).toBe(s.keys.answered);
    expect(s.byKind['kill-primary']!.count).toBe(1);
    expect(s.byKind['kill-secondary']!.count).toBe(1);
    expect(s.all.notReprotected).toBe(0);
    expect(s.all.reprotectMs.maxMs).toBeGreaterThan(0);
    expect(s.all.reprotectMs.p50Ms).toBeLessThanOrEqual(s.all.reprotectMs.maxMs);
    expect(s.all.gapMs.maxMs).toBeGreaterThan(0);
    // Each fault's replacement is a new process: the initial pair plus at least one per fault.
    expect(s.nodesStarted).toBeGreaterThanOrEqual(4);
  }, boundFor(2, 2000) + 10_000); // ~10-20 s on an idle machine; real processes on a shared 2-core machine can take far longer

  // The faults behind issue 8's worst defects: a supervisor restarting a killed primary with its
  // original command (it must join, not fork), a frozen primary (the lease), a stalled link.
  it('survives restarts with the original command, a frozen primary and a blackholed link: exit 0', async () => {
    const kinds = 'restart-primary,stop-primary,link-blackhole,restart-secondary';
    const { code, stdout, stderr, summary } = await chaos(['--seed', '7', '--faults', '4', '--fault-kinds', kinds, '--program', COUNTER, '--rate', '40', '--failure-timeout-ms', '2000'], boundFor(4, 2000));
    expect(code, stdout + stderr).toBe(0);
    const s = summary!;
    expect(s.faultsRun).toBe(4);
    expect(s.violations).toEqual({ correctness: 0, liveness: 0, examples: [] });
    expect(s.keys.answered).toBe(s.keys.sent);
    expect(s.keys.readback).toBe(s.keys.answered);
    expect(Object.keys(s.byKind).every((kind) => kinds.split(',').includes(kind))).toBe(true);
  }, boundFor(4, 2000) + 10_000);

  // The logging link holds every byte for up to 2.25 s (3/4 of the failure timeout), then the primary
  // dies: without the output rule, the answers it gave meanwhile are not in the survivor's log.
  it('catches a real loss: primaries without the output rule, a stalled link, a SIGKILL -> correctness exit 20', async () => {
    const { code, stdout, stderr, summary } = await chaos(['--seed', '8', '--faults', '1', '--fault-kinds', 'blackhole-kill-primary', '--program', COUNTER, '--rate', '60', '--failure-timeout-ms', '3000', '--no-output-gate'], boundFor(1, 3000));
    expect(code, stdout + stderr).toBe(20);
    expect(stdout).toMatch(/RESULT: correctness violation \(exit 20\)/);
    const s = summary!;
    expect(s.violations.correctness).toBeGreaterThan(0);
    const kinds = new Set(s.violations.examples.map((v) => v.kind));
    expect(kinds.has('lost-answer')).toBe(true);
    expect(kinds.has('invariant')).toBe(true);
  }, boundFor(1, 3000) + 10_000);

  // Issue 19: attaches, catch-ups and the lease across a real round trip (each secondary's logging link
  // delayed 100..300 ms per direction): the kill of either role and a restarted secondary, nothing lost.
  it('survives kills and a restart through delayed logging links (--link-delay-ms): exit 0', async () => {
    const kinds = 'kill-primary,restart-secondary,kill-secondary';
    const args = ['--seed', '19', '--faults', '3', '--fault-kinds', kinds, '--program', COUNTER, '--rate', '30', '--link-delay-ms', '100..300', '--failure-timeout-ms', '2000'];
    const { code, stdout, stderr, summary } = await chaos(args, boundFor(3, 2000));
    expect(code, stdout + stderr).toBe(0);
    expect(stdout).toMatch(/logging links: 100\.\.300 ms per direction/);
    const s = summary!;
    expect(s.faultsRun).toBe(3);
    expect(s.violations).toEqual({ correctness: 0, liveness: 0, examples: [] });
    expect(s.keys.answered).toBe(s.keys.sent);
    expect(s.keys.readback).toBe(s.keys.answered);
  }, boundFor(3, 2000) + 10_000);

  it('refuses a delayed link the failure timeout cannot cover (the lease needs the round trip), with a usage error', async () => {
    const { code, stderr } = await chaos(['--link-delay-ms', '50..400', '--failure-timeout-ms', '300']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/--link-delay-ms up to 400 ms per direction needs --failure-timeout-ms above 1778/);
    const bad = await chaos(['--link-delay-ms', '400..50']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/is not MS or MIN\.\.MAX/);
  });

  it('refuses an unknown fault kind with a usage error (exit 2)', async () => {
    const { code, stderr } = await chaos(['--fault-kinds', 'meteor']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/unknown kind 'meteor'/);
  });
});
