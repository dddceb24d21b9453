// `lockstep upgrade-check` on real recordings of guest-programs/counter.js (`lockstep run --record`
// driven by real HTTP requests): an equivalent refactor passes (exit 0); a behaviour change fails
// at the request whose answer changed (exit 3, that entry); an extra clock read and a missing file
// read are input differences at the right entry; --json; a directory with a summary; a log cut at a
// checkpoint or without recorded answers cannot be checked (exit 4).
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { describeEntry } from '../../src/log/entries.js';
import { readLogFile } from '../../src/log/log-file.js';
import { assertBuilt, Client, guestPath, runCli, startRun, type Answer } from '../../scripts/record-fixtures.lib.js';
import { readRecordedAnswers } from '../../src/timetravel/answers-file.js';
import { FIXTURES, requestSeqs } from './recordings.js';

const variant = (name: string) => join(FIXTURES, `${name}.js`);

describe('lockstep upgrade-check against a recording of counter.js', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lockstep-upgrade-check-'));
  const logPath = join(dir, 'counter.log');
  let answers: Answer[] = [];
  let seqs = new Map<string, number>();

  beforeAll(async () => {
    assertBuilt();
    // Checkpoints too: the new program must not start from them (they hold the old program's heap).
    const node = await startRun(guestPath('counter'), ['--dir', join(dir, 'node'), '--record', logPath, '--checkpoint-every-entries', '12']);
    const client = new Client(node.port);
    await client.send('GET', '/count');
    await Promise.all([1, 2, 3].map(() => client.send('POST', '/increment')));
    for (let i = 0; i < 5; i++) await client.send('POST', '/increment');
    await client.send('GET', '/count');
    await client.send('GET', '/nowhere');
    expect((await node.stop()).code).toBe(0);
    answers = client.answers;
    seqs = requestSeqs(logPath);
  });

  const seqOfAnswer = (predicate: (a: Answer) => boolean) => seqs.get(answers.filter(predicate).sort((a, b) => seqs.get(a.testId)! - seqs.get(b.testId)!)[0].testId)!;

  test('the recording keeps the answers it released beside the log: each one the client got, under its request entry', async () => {
    const recorded = await readRecordedAnswers(logPath);
    expect(recorded!.endSeq).toBe(readLogFile(logPath).entries.length);
    expect(recorded!.answers.size).toBe(answers.length);
    for (const answer of answers) {
      const kept = recorded!.answers.get(seqs.get(answer.testId)!)!;
      expect(kept.status).toBe(answer.status);
      expect(kept.headers['content-type']).toBe(answer.contentType);
      expect(Buffer.from(kept.body).toString('utf8')).toBe(answer.body);
    }
  });

  test('an equivalent refactor gives the same answers: exit 0', async () => {
    const result = await runCli(['upgrade-check', logPath, variant('counter-refactor')]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`gives the same answers as counter.js: ${answers.length} answers compared`);
    // The recorded program itself passes too.
    expect((await runCli(['upgrade-check', logPath, guestPath('counter')])).code).toBe(0);
  });

  test('a behaviour change fails at the request whose answer changed: exit 3, that entry, both answers side by side', async () => {
    const result = await runCli(['upgrade-check', logPath, variant('counter-changed')]);
    expect(result.code).toBe(3);
    const seq = seqOfAnswer((a) => a.method === 'POST' && JSON.parse(a.body).count === 5);
    expect(result.stdout).toContain(`answers differently from counter.js at entry #${seq}`);
    expect(result.stdout).toContain(`request #${seq}: POST /increment`);
    expect(result.stdout).toMatch(/"count": 5 +\| +"count": 5,/);
    expect(result.stdout).toMatch(/> +"milestone": true/);
    const json = JSON.parse((await runCli(['upgrade-check', logPath, variant('counter-changed'), '--json'])).stdout);
    expect(json).toMatchObject({ same: false, difference: { kind: 'answer', seq, request: { method: 'POST', path: '/increment' } } });
    expect(JSON.parse(json.difference.recorded.body)).toEqual({ count: 5 });
    expect(JSON.parse(json.difference.produced.body)).toEqual({ count: 5, milestone: true });
  });

  test('an extra clock read is an input difference: the entry, what the log holds and what was asked', async () => {
    const result = await runCli(['upgrade-check', logPath, variant('counter-clock'), '--json']);
    expect(result.code).toBe(3);
    const report = JSON.parse(result.stdout);
    // The last GET /count (count 8) reads the clock once more: the log holds the next entry there.
    const countSeq = seqOfAnswer((a) => a.method === 'GET' && a.path === '/count' && JSON.parse(a.body).count === 8);
    const { entries } = readLogFile(logPath);
    expect(report.difference).toMatchObject({ kind: 'input', seq: countSeq + 1, request: { seq: countSeq, method: 'GET', path: '/count' }, programAsked: 'value now (a clock read)' });
    expect(report.difference.logHolds).toBe(describeEntry(entries[countSeq])); // entries[countSeq] is entry #countSeq+1
    const text = await runCli(['upgrade-check', logPath, variant('counter-clock')]);
    expect(text.code).toBe(3);
    expect(text.stdout).toContain(`asks for inputs differently from counter.js at entry #${countSeq + 1}`);
    expect(text.stdout).toContain('the new program asked:   value now (a clock read)');
  });

  test('a missing file read is an input difference at the read the log holds', async () => {
    const result = await runCli(['upgrade-check', logPath, variant('counter-noread'), '--json']);
    expect(result.code).toBe(3);
    const report = JSON.parse(result.stdout);
    const { entries } = readLogFile(logPath);
    const readSeq = entries.findIndex((e) => e.kind === 'read') + 1;
    expect(report.difference).toMatchObject({ kind: 'input', seq: readSeq, programAsked: 'no file read op 1 (it issued no such read)' });
    expect(report.difference.logHolds).toMatch(/^event read op 1 failed/);
  });

  test('a directory of logs: one report per log and a summary; a cut log and a log without answers cannot be checked', async () => {
    const many = join(dir, 'many');
    mkdirSync(many);
    copyFileSync(logPath, join(many, 'a.log'));
    copyFileSync(`${logPath}.answers`, join(many, 'a.log.answers'));
    copyFileSync(logPath, join(many, 'b.log')); // no answers beside it
    const same = await runCli(['upgrade-check', many, variant('counter-refactor')]);
    expect(same.code).toBe(4);
    expect(same.stdout).toContain('a.log: counter-refactor.js gives the same answers');
    expect(same.stdout).toContain('b.log: cannot be checked');
    expect(same.stdout).toContain('LOCKSTEP_UPGRADE_NO_ANSWERS');
    expect(same.stdout.trim().split('\n').at(-1)).toBe('2 logs: 1 same, 0 differ, 1 cannot be checked');
    const differs = JSON.parse((await runCli(['upgrade-check', many, variant('counter-changed'), '--json'])).stdout);
    expect(differs.exitCode).toBe(3);
    expect(differs.summary).toBe('2 logs: 0 same, 1 differ, 1 cannot be checked');
    rmSync(join(many, 'b.log'));
    expect((await runCli(['upgrade-check', many, variant('counter-refactor')])).code).toBe(0);
    const single = await runCli(['upgrade-check', join(dir, 'none.log'), variant('counter-refactor')]);
    expect(single.code).toBe(2);
    expect(single.stderr).toContain('LOCKSTEP_LOG_UNREADABLE');
  });

  test('a log cut at a checkpoint says that the history before the cut cannot be checked (exit 4)', async () => {
    const cutDir = mkdtempSync(join(tmpdir(), 'lockstep-upgrade-cut-'));
    const cutLog = join(cutDir, 'counter.log');
    const node = await startRun(guestPath('counter'), ['--dir', join(cutDir, 'node'), '--record', cutLog, '--checkpoint-every-entries', '20', '--record-bytes-max', '4096']);
    const client = new Client(node.port);
    for (let i = 0; i < 120; i++) await client.send('POST', '/increment', 'x'.repeat(64));
    expect((await node.stop()).code).toBe(0);
    const firstSeq = readLogFile(cutLog).firstSeq;
    expect(firstSeq).toBeGreaterThan(1);
    const result = await runCli(['upgrade-check', cutLog, variant('counter-refactor')]);
    expect(result.code).toBe(4);
    expect(result.stderr).toContain('LOCKSTEP_UPGRADE_HISTORY_CUT');
    expect(result.stderr).toContain(`history before the cut (#1..#${firstSeq - 1}) is gone, so it cannot be checked`);
  });

  test('a recording killed (SIGKILL) rather than stopped is still checked: answers it lacks count as unchecked, not as differences', async () => {
    const killedDir = mkdtempSync(join(tmpdir(), 'lockstep-upgrade-killed-'));
    const killedLog = join(killedDir, 'counter.log');
    const node = await startRun(guestPath('counter'), ['--dir', join(killedDir, 'node'), '--record', killedLog]);
    const client = new Client(node.port);
    for (let i = 0; i < 6; i++) await client.send('POST', '/increment');
    await new Promise((r) => setTimeout(r, 300)); // the log and the answers reach the disk once per turn of the event loop
    node.child.kill('SIGKILL');
    await node.stop();
    expect(readFileSync(`${killedLog}.answers`, 'utf8')).not.toContain('"end"');
    const same = JSON.parse((await runCli(['upgrade-check', killedLog, variant('counter-refactor'), '--json'])).stdout);
    expect(same).toMatchObject({ same: true });
    expect(same.answersCompared + same.answersUnchecked).toBe(6);
    const changed = await runCli(['upgrade-check', killedLog, variant('counter-changed')]);
    expect(changed.code).toBe(3);
  });
});
