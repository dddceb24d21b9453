// The demo end to end, as a newcomer runs it (real child processes, a real SIGKILL), with short
// durations: the URL shortener with the output rule (nothing lost), without it (the loss is
// reported), and the counter without it (its own check reports the loss too).
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { LOCKSTEP_BIN } from '../../src/demo/processes.js';

const COUNTER = fileURLToPath(new URL('../../guest-programs/counter.js', import.meta.url));

function runDemo(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [LOCKSTEP_BIN, 'demo', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

function field(text: string, label: RegExp): number {
  const match = label.exec(text);
  if (!match) throw new Error(`no ${label} in:\n${text}`);
  return Number(match[1]);
}

describe('lockstep demo', () => {
  it('kills the primary of the URL shortener under load and loses nothing (exit 0, numbers agree)', async () => {
    const { code, stdout, stderr } = await runDemo(['--duration', '3s', '--kill-after', '1500ms', '--rate', '150', '--respawn', '--seed', '7']);
    expect(code, stdout + stderr).toBe(0);
    expect(stdout).toMatch(/Lockstep demo: \S*shortener\.js/);
    expect(stdout).toMatch(/RESULT: OK/);
    const sent = field(stdout, /keys sent\s+(\d+)/);
    const answered = field(stdout, /answered\s+(\d+)/);
    expect(sent).toBeGreaterThan(20); // load ran (how much depends on the machine: 150 at 150/s here, 108 on a loaded one)
    expect(answered).toBe(sent);
    expect(field(stdout, /lost\s+(\d+)/)).toBe(0);
    expect(field(stdout, /duplicates\s+(\d+)/)).toBe(0);
    // Every link a client was told was created (each 201) was looked up on the survivor, and found.
    const created = field(stdout, /links a client was told were created: (\d+)/);
    expect(created).toBe(field(stdout, /statuses\s+.*201: (\d+)/));
    expect(created).toBeGreaterThan(sent / 3);
    expect(field(stdout, /visits a client was redirected by: (\d+)/)).toBeGreaterThan(0);
    expect(stdout).toMatch(/every one of them is on the survivor \(\d+ links checked\): same URL, every told visit counted once/);
    // The timeline is in order: detection, claim, live.
    const detected = field(stdout, /failure detected\s+(\d+)/);
    const claim = field(stdout, /claim won\s+(\d+)/);
    const live = field(stdout, /secondary live\s+(\d+)/);
    expect(detected).toBeLessThanOrEqual(claim);
    expect(claim).toBeLessThanOrEqual(live);
    expect(stdout).toMatch(/protection restored/);
  });

  it('without the output gate, finds links clients were told about missing on the survivor (exit 1)', async () => {
    const { code, stdout, stderr } = await runDemo(['--duration', '3s', '--kill-after', '1500ms', '--rate', '200', '--no-output-gate', '--channel-delay', '1000ms', '--seed', '7']);
    expect(code, stdout + stderr).toBe(1);
    expect(stdout).toMatch(/RESULT: FAILED/);
    expect(field(stdout, /LOST: (\d+) links a client was told exist are missing on the survivor/)).toBeGreaterThan(0);
  });

  it('checks the counter too: without the output gate, acknowledged increments are lost (exit 1)', async () => {
    const { code, stdout, stderr } = await runDemo(['--program', COUNTER, '--duration', '3s', '--kill-after', '1500ms', '--rate', '200', '--no-output-gate', '--channel-delay', '1000ms', '--seed', '7']);
    expect(code, stdout + stderr).toBe(1);
    expect(stdout).toMatch(/RESULT: FAILED/);
    // Increments the clients were told about are missing from the survivor, so it hands the same
    // counts out again (told to two clients) or ends below what clients saw.
    const counter = field(stdout, /survivor's counter: (\d+)/);
    const told = field(stdout, /answers with a count: (\d+)/);
    const reused = /WRONG: (\d+) counts were told to two different clients/.exec(stdout);
    expect(reused !== null || counter < told, stdout).toBe(true);
    expect(stdout).toMatch(/LOST: /);
  });
});
