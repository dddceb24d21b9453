// `lockstep run --record F --checkpoint-every-entries N` in a real process: checkpoint entries in the
// log, at most --checkpoints-kept files beside it; `lockstep log` lists them; `lockstep replay --to`
// starts from the newest one at or before the entry and ends where replay from #1 ends.
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
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
