// The side-by-side diff of two answers and the answers file's reader (a torn last line, a cut).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { answerLines, answersEqual, sideBySide } from '../../src/timetravel/answer-diff.js';
import { answersPathOf, readRecordedAnswers, type Answer } from '../../src/timetravel/answers-file.js';

const answer = (status: number, headers: Record<string, string>, body: string): Answer => ({ status, headers, body: new TextEncoder().encode(body) });

describe('answer diff', () => {
  test('equal answers compare equal whatever the header order; status, header or body byte differences do not', () => {
    const a = answer(200, { 'content-type': 'application/json', 'x-a': '1' }, '{"n":1}');
    expect(answersEqual(a, answer(200, { 'x-a': '1', 'content-type': 'application/json' }, '{"n":1}'))).toBe(true);
    expect(answersEqual(a, answer(201, a.headers, '{"n":1}'))).toBe(false);
    expect(answersEqual(a, answer(200, { ...a.headers, 'x-a': '2' }, '{"n":1}'))).toBe(false);
    expect(answersEqual(a, answer(200, a.headers, '{"n":1} '))).toBe(false);
  });

  test('a changed JSON field is one | row; a line only one side has is < or >', () => {
    const rows = sideBySide(answerLines(answer(200, {}, '{"n":1,"gone":true}')), answerLines(answer(200, {}, '{"n":2}')));
    expect(rows[0]).toMatch(/^status 200 +status 200$/);
    expect(rows.filter((r) => r.includes('|'))).toEqual([expect.stringMatching(/"n": 1, +\| +"n": 2$/)]);
    expect(rows.filter((r) => / <$/.test(r))).toEqual([expect.stringMatching(/^ +"gone": true +<$/)]);
    const added = sideBySide(['a'], ['a', 'b']);
    expect(added[1]).toMatch(/^ +> b$/);
    expect(sideBySide(answerLines(null), answerLines(answer(404, {}, 'x')))[0]).toMatch(/^\(no answer\) +\| status 404$/);
  });

  test('a binary body is shown as base64, an empty one as such', () => {
    expect(answerLines({ status: 200, headers: {}, body: new Uint8Array([0xff, 0x00]) }).at(-1)).toBe('(2 bytes, not UTF-8) base64 /wA=');
    expect(answerLines(answer(204, {}, '')).at(-1)).toBe('(empty body)');
  });
});

describe('answers file reader', () => {
  test('ignores a torn last line (a killed recording) and knows whether the recording ended cleanly', async () => {
    const log = join(mkdtempSync(join(tmpdir(), 'lockstep-answers-')), 'x.log');
    writeFileSync(answersPathOf(log), '{"lockstepAnswers":1}\n{"seq":4,"status":200,"headers":{},"body":"ok"}\n{"seq":7,"sta');
    const torn = await readRecordedAnswers(log);
    expect([...torn!.answers.seqs()]).toEqual([4]);
    expect(torn!.endSeq).toBeUndefined();
    writeFileSync(answersPathOf(log), '{"lockstepAnswers":1}\n{"seq":4,"status":200,"headers":{},"bodyBase64":"/wA="}\n{"end":9}\n');
    const clean = await readRecordedAnswers(log);
    expect([...clean!.answers.get(4)!.body]).toEqual([0xff, 0]);
    expect(clean!.endSeq).toBe(9);
    writeFileSync(answersPathOf(log), '{"lockstepAnswers":1,"cutBefore":120}\n');
    expect((await readRecordedAnswers(log))!.cutBeforeSeq).toBe(120);
    expect(await readRecordedAnswers(join(log, 'none'))).toBeUndefined();
  });
});
