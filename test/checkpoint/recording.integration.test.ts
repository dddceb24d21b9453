// `lockstep run --record F --checkpoint-every-entries N` in a real process: checkpoint entries in the
// log, at most --checkpoints-kept files beside it; `lockstep log` lists them; `lockstep replay --to`
// starts from the newest one at or before the entry and ends where replay from #1 ends.
import { existsSync, mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { assertBuilt, Client, guestPath, runCli, startRun } from '../../scripts/record-fixtures.lib.js';

describe('lockstep run --record with checkpoints', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lockstep-recording-'));
  const logPath = join(dir, 'counter.log');
  let checkpointEntries: Array<{ seq: number }> = [];
  let entries = 0;

  beforeAll(async () => {
    assertBuilt();
    const node = await startRun(guestPath('counter'), ['--dir', join(dir, 'node'), '--record', logPath, '--checkpoint-every-entries', '15', '--checkpoints-kept', '2']);
    const client = new Client(node.port);
    for (let i = 0; i < 30; i++) await client.send('POST', '/increment');
    const result = await node.stop();
    expect(result.code).toBe(0);
    const listed = await runCli(['log', logPath, '--json']);
    const lines = listed.stdout.trim().split('\n').map((line) => JSON.parse(line));
    entries = lines.filter((l) => typeof l.seq === 'number' && l.kind !== undefined).length;
    checkpointEntries = lines.filter((l) => l.kind === 'checkpoint');
  });

  test('takes checkpoints every N entries and keeps only the newest files (--checkpoints-kept)', () => {
    expect(checkpointEntries.length).toBeGreaterThan(2);
    const files = readdirSync(`${logPath}.checkpoints`).filter((n) => n.endsWith('.ckpt'));
    expect(files).toHaveLength(2);
    const newest = checkpointEntries.at(-1)!.seq - 1;
    expect(files).toContain(`${String(newest).padStart(12, '0')}.ckpt`);
  });

  test('lockstep log --checkpoints lists the entries and the files, each file checked against its entry', async () => {
    const listed = await runCli(['log', logPath, '--checkpoints']);
    expect(listed.code).toBe(0);
    const lines = listed.stdout.trim().split('\n');
    expect(lines.filter((l) => /^#\d+ {2}checkpoint: state digest [0-9a-f]{64}$/.test(l))).toHaveLength(checkpointEntries.length);
    expect(lines.filter((l) => l.startsWith('checkpoint ') && l.endsWith('(matches the log)'))).toHaveLength(2);
  });

  test('replay --to N starts from the newest checkpoint at or before N and ends where replay from #1 ends', async () => {
    const newest = checkpointEntries.at(-1)!.seq - 1;
    const to = Math.min(entries, newest + 5);
    const fromCheckpoint = await runCli(['replay', logPath, guestPath('counter'), '--to', String(to), '--json']);
    const fromStart = await runCli(['replay', logPath, guestPath('counter'), '--to', String(to), '--no-checkpoints', '--json']);
    expect(fromCheckpoint.stderr + fromStart.stderr).toBe('');
    const a = JSON.parse(fromCheckpoint.stdout);
    const b = JSON.parse(fromStart.stdout);
    expect(a.firstSeq).toBe(newest + 1);
    expect(b.firstSeq).toBe(1);
    expect(a.lastSeq).toBe(b.lastSeq);
    expect(a.lastSeq).toBeGreaterThanOrEqual(to);
    expect(a.outputsDigest).toBe(b.outputsDigest);
    expect(a.stateDigest).toBe(b.stateDigest);
    // Before the oldest kept file there is no checkpoint: replay starts at #1.
    const early = JSON.parse((await runCli(['replay', logPath, guestPath('counter'), '--to', '5', '--json'])).stdout);
    expect(early.firstSeq).toBe(1);
  });

  test('a new recording at the same path drops the old checkpoint files; the options need --record', async () => {
    const node = await startRun(guestPath('counter'), ['--dir', join(dir, 'node2'), '--record', logPath]);
    await node.stop();
    expect(existsSync(`${logPath}.checkpoints`)).toBe(false);
    const usage = await runCli(['run', guestPath('counter'), '--checkpoint-every-entries', '10']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('need --record');
  });
});

describe('lockstep run --record --record-bytes-max (a bounded recording)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lockstep-bounded-recording-'));
  const logPath = join(dir, 'counter.log');
  const BOUND = 16 * 1024;

  test('is cut at its newest checkpoint once past the bound, stays bounded, and replays from that checkpoint to the end', async () => {
    assertBuilt();
    const node = await startRun(guestPath('counter'), ['--dir', join(dir, 'node'), '--record', logPath, '--checkpoint-every-entries', '40', '--record-bytes-max', String(BOUND)]);
    const client = new Client(node.port);
    for (let i = 0; i < 600; i++) await client.send('POST', '/increment');
    const result = await node.stop();
    expect(result.code).toBe(0);
    // Bounded: at most the bound, plus what was logged between two checkpoints.
    expect(statSync(logPath).size).toBeLessThan(3 * BOUND);
    const listed = (await runCli(['log', logPath, '--json'])).stdout.trim().split('\n').map((line) => JSON.parse(line));
    const firstSeq = listed[0].header.firstSeq as number;
    expect(firstSeq).toBeGreaterThan(600);
    expect(listed[1].seq).toBe(firstSeq);
    // Every checkpoint file kept is one the log can replay from (none older than the cut).
    const kept = readdirSync(`${logPath}.checkpoints`).filter((n) => n.endsWith('.ckpt')).map((n) => Number(n.slice(0, 12)));
    expect(kept.length).toBeGreaterThan(0);
    expect(Math.min(...kept)).toBeGreaterThanOrEqual(firstSeq - 1);
    // Replay needs no flag: it starts from the checkpoint the log was cut at, and ends at the count served.
    const replayed = await runCli(['replay', logPath, guestPath('counter'), '--json']);
    expect(replayed.stderr).toBe('');
    const summary = JSON.parse(replayed.stdout);
    expect(kept.map((seq) => seq + 1)).toContain(summary.firstSeq); // the newest checkpoint kept
    expect(summary.checks).toBeGreaterThan(0); // the final check entry (the digest of every output) agreed
    expect(summary.lastSeq).toBe(listed.filter((l) => typeof l.seq === 'number' && l.kind !== undefined).at(-1).seq);
    // From #1 it cannot: the entries are gone, and it says so.
    const refused = await runCli(['replay', logPath, guestPath('counter'), '--to', String(firstSeq - 10)]);
    expect(refused.code).toBe(4);
    expect(refused.stderr).toMatch(/cut to stay bounded.*entries from #\d+ on/);
  }, 120_000);
});
