// The command line as a user meets it, in real processes: `lockstep log` (text and --json), `lockstep
// replay` refusing damaged or mismatched logs with a code naming the problem, the request body limit
// of `lockstep run`, and --help on every command.
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOG_FORMAT_VERSION } from '../../src/log/entries.js';
import { encodeHeader } from '../../src/log/codec.js';
import { encodeFrame, FILE_MAGIC, readLogFile } from '../../src/log/log-file.js';
import { assertBuilt, GOLDEN_DIR, guestPath, runCli, startRun } from '../../scripts/record-fixtures.lib.js';

const COUNTER_LOG = join(GOLDEN_DIR, 'counter.log');
let work: string;
beforeAll(async () => {
  assertBuilt();
  work = await mkdtemp(join(tmpdir(), 'lockstep-cli-'));
});
afterAll(() => rm(work, { recursive: true, force: true }));

describe('lockstep log', () => {
  it('prints the header and one line per entry', async () => {
    const { entries } = readLogFile(COUNTER_LOG);
    const result = await runCli(['log', COUNTER_LOG]);
    expect(result.code).toBe(0);
    const lines = result.stdout.trim().split('\n');
    expect(lines[0]).toMatch(new RegExp(`^Lockstep log format ${LOG_FORMAT_VERSION}, program counter\\.js \\(sha256 [0-9a-f]{64}\\)`));
    expect(lines).toHaveLength(entries.length + 1);
    expect(lines[1]).toBe('#1  event start');
    expect(lines.some((l) => /^#\d+  event request POST \/increment/.test(l))).toBe(true);
    expect(lines.at(-1)).toMatch(/^#\d+  check after \d+ events: outputs digest [0-9a-f]{16}$/);
  });

  it('--json prints one parseable object per line', async () => {
    const result = await runCli(['log', join(GOLDEN_DIR, 'lottery.log'), '--json']);
    expect(result.code).toBe(0);
    const [header, ...entries] = result.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(header.header.programName).toBe('lottery.js');
    expect(entries.map((e) => e.seq)).toEqual(entries.map((_, i) => i + 1));
    const random = entries.find((e) => e.kind === 'random');
    expect(random.bytes).toMatch(/^([0-9a-f]{2})+$/);
    expect(entries.find((e) => e.kind === 'request').headers).toEqual(expect.arrayContaining([['x-test-id', expect.any(String)]]));
  });
});

describe('lockstep replay refuses bad logs with a code naming the problem', () => {
  const replay = (log: string, program = guestPath('counter')) => runCli(['replay', log, program]);

  it('a flipped byte: LOCKSTEP_LOG_CORRUPT', async () => {
    const bytes = await readFile(COUNTER_LOG);
    bytes[bytes.length - 5] ^= 0xff;
    await writeFile(join(work, 'corrupt.log'), bytes);
    const result = await replay(join(work, 'corrupt.log'));
    expect(result.code).toBe(4);
    expect(result.stderr).toMatch(/checksum mismatch.*\[LOCKSTEP_LOG_CORRUPT\]/s);
  });

  it('a truncated file: LOCKSTEP_LOG_TRUNCATED', async () => {
    const bytes = await readFile(COUNTER_LOG);
    await writeFile(join(work, 'truncated.log'), bytes.subarray(0, bytes.length - 7));
    const result = await replay(join(work, 'truncated.log'));
    expect(result.code).toBe(4);
    expect(result.stderr).toMatch(/is truncated at byte offset \d+.*\[LOCKSTEP_LOG_TRUNCATED\]/s);
  });

  it('another format version: LOCKSTEP_LOG_VERSION', async () => {
    const bytes = await readFile(COUNTER_LOG);
    const { header } = readLogFile(COUNTER_LOG);
    const headerFrameBytes = 8 + bytes.readUInt32BE(FILE_MAGIC.length);
    const future = encodeFrame(encodeHeader({ ...header, formatVersion: 99 }));
    await writeFile(join(work, 'version.log'), Buffer.concat([Buffer.from(FILE_MAGIC), future, bytes.subarray(FILE_MAGIC.length + headerFrameBytes)]));
    const result = await replay(join(work, 'version.log'));
    expect(result.code).toBe(4);
    expect(result.stderr).toMatch(new RegExp(`written by format 99; this Lockstep reads format ${LOG_FORMAT_VERSION}.*\\[LOCKSTEP_LOG_VERSION\\]`, 's'));
  });

  it('another program: LOCKSTEP_LOG_PROGRAM', async () => {
    const result = await replay(COUNTER_LOG, guestPath('kv'));
    expect(result.code).toBe(4);
    expect(result.stderr).toMatch(/recorded with another program: counter\.js.*\[LOCKSTEP_LOG_PROGRAM\]/s);
  });

  it('the intact log replays (the damage above is what failed)', async () => {
    await copyFile(COUNTER_LOG, join(work, 'intact.log'));
    const result = await replay(join(work, 'intact.log'));
    expect(result.code).toBe(0);
  });
});

describe('lockstep run', () => {
  it('answers 413 to a body over --body-bytes-max and keeps serving', async () => {
    const node = await startRun(guestPath('echo'), ['--dir', join(work, 'echo'), '--body-bytes-max', '1000']);
    try {
      const url = `http://127.0.0.1:${node.port}/echo`;
      const big = await fetch(url, { method: 'POST', body: 'x'.repeat(5000) });
      expect(big.status).toBe(413);
      expect(await big.json()).toMatchObject({ error: 'body_too_large' });
      const small = await fetch(url, { method: 'POST', body: 'y'.repeat(1000) });
      expect(small.status).toBe(200);
      expect(await small.text()).toBe('y'.repeat(1000));
    } finally {
      expect((await node.stop()).code).toBe(0);
    }
  });
});

describe('a port already in use', () => {
  it('is refused with LOCKSTEP_ADDRESS_IN_USE and no stack trace; the first node keeps serving', async () => {
    const first = await startRun(guestPath('echo'), ['--dir', join(work, 'port-first')]);
    try {
      const second = await runCli(['run', guestPath('echo'), '--port', String(first.port), '--dir', join(work, 'port-second')]);
      expect(second.code).not.toBe(0);
      expect(second.stderr).toMatch(/Cannot listen for the HTTP service on 127\.0\.0\.1:\d+ \(EADDRINUSE\).*\[LOCKSTEP_ADDRESS_IN_USE\]/);
      expect(second.stderr).not.toMatch(/\n\s+at /);
      const answer = await fetch(`http://127.0.0.1:${first.port}/echo`, { method: 'POST', body: 'still here' });
      expect(await answer.text()).toBe('still here');
    } finally {
      expect((await first.stop()).code).toBe(0);
    }
  });
});

describe('--help', () => {
  it.each([
    ['run', '--record <file>'],
    ['replay', '--outputs <file>'],
    ['log', '--json'],
  ])('lockstep %s --help describes its options', async (command, option) => {
    const result = await runCli([command, '--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`Usage: lockstep ${command}`);
    expect(result.stdout).toContain(option);
  });
});
