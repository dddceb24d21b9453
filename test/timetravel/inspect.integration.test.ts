// `lockstep inspect` on real recordings (`lockstep run --record` driven by real HTTP requests): the
// state right after a request's event equals what that request's answer said, from a checkpoint or
// from entry #1 alike; the session commands move, show the event and its effects; exit codes 0/1/2.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { assertBuilt, Client, GOLDEN_DIR, guestPath, runCli, seeded, startRun, type Answer } from '../../scripts/record-fixtures.lib.js';
import { FIXTURES, jsonLines, lastSeqOf, requestSeqs, runCliWithInput } from './recordings.js';

const TALLY = join(FIXTURES, 'tally.js');

describe('lockstep inspect on a recording of the tally guest (checkpoints every 16 entries)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lockstep-inspect-'));
  const logPath = join(dir, 'tally.log');
  const posts: Array<{ answer: Answer; seq: number; name: string; total: number }> = [];
  let lastSeq = 0;

  beforeAll(async () => {
    assertBuilt();
    const node = await startRun(TALLY, ['--dir', join(dir, 'node'), '--record', logPath, '--checkpoint-every-entries', '16', '--checkpoints-kept', '100']);
    const client = new Client(node.port);
    const rnd = seeded(23);
    for (let i = 0; i < 60; i++) {
      const name = ['a', 'b', 'c'][Math.floor(rnd() * 3)];
      if (rnd() < 0.2) await client.send('GET', `/${name}`);
      else await client.send('POST', `/${name}`, String(1 + Math.floor(rnd() * 9)));
    }
    expect((await node.stop()).code).toBe(0);
    const seqs = requestSeqs(logPath);
    for (const answer of client.answers) {
      if (answer.method !== 'POST') continue;
      const body = JSON.parse(answer.body) as { name: string; total: number };
      posts.push({ answer, seq: seqs.get(answer.testId)!, name: body.name, total: body.total });
    }
    lastSeq = lastSeqOf(logPath); // what follows the last request (clock reads, check entries, a stop) varies with timing
  });

  test('--at N --eval: the state after each request equals what its answer said (a session, one JSON line per command, newest first)', async () => {
    const backwards = [...posts].reverse();
    const input = backwards.map(({ seq, name }) => `.at ${seq}\nprogram.tallies[${JSON.stringify(name)}]\n`).join('');
    const result = await runCliWithInput(['inspect', logPath, TALLY], input);
    expect(result.code).toBe(0);
    const lines = jsonLines(result.stdout);
    expect(lines).toHaveLength(backwards.length * 2);
    backwards.forEach(({ seq, total }, i) => {
      expect(lines[2 * i]).toMatchObject({ ok: true, at: seq, event: { seq } });
      expect(lines[2 * i + 1]).toEqual({ ok: true, at: seq, value: total });
      // Going back starts from the newest checkpoint before the event, never from entry #1 past the first checkpoint.
      const from = String(lines[2 * i].from);
      if (from === 'entry #1') {
        expect(seq).toBeLessThanOrEqual(24);
      } else {
        const checkpointSeq = Number(/^checkpoint after #(\d+)$/.exec(from)?.[1]);
        expect(checkpointSeq).toBeLessThan(seq);
        expect(lines[2 * i].replayed).toBe(lines[2 * i].lastSeq - checkpointSeq);
      }
    });
  });

  test('one-shot --eval from the newest checkpoint and from entry #1 (--no-checkpoints) give the same value', async () => {
    const late = posts.at(-1)!;
    const fromCheckpoint = await runCli(['inspect', logPath, TALLY, '--at', String(late.seq), '--eval', `program.tallies.${late.name}`, '--verbose']);
    const fromStart = await runCli(['inspect', logPath, TALLY, '--at', String(late.seq), '--eval', `program.tallies.${late.name}`, '--verbose', '--no-checkpoints']);
    expect(fromCheckpoint.code).toBe(0);
    expect(fromStart.code).toBe(0);
    expect(JSON.parse(fromCheckpoint.stdout)).toBe(late.total);
    expect(JSON.parse(fromStart.stdout)).toBe(late.total);
    expect(fromCheckpoint.stderr).toMatch(/from checkpoint after #\d+/);
    expect(fromStart.stderr).toContain('from entry #1');
  });

  test('without --at: the end of the log; the whole tally object as JSON', async () => {
    const result = await runCli(['inspect', logPath, TALLY, '--eval', 'program.tallies']);
    expect(result.code).toBe(0);
    const expected: Record<string, number> = {};
    for (const { name, total } of posts) expected[name] = total;
    expect(JSON.parse(result.stdout)).toEqual(expected);
  });

  test('exit 2 naming the last entry for N past the log; exit 1 with the guest message when EXPR throws', async () => {
    const past = await runCli(['inspect', logPath, TALLY, '--at', String(lastSeq + 1), '--eval', '1']);
    expect(past.code).toBe(2);
    expect(past.stderr).toContain(`ends at entry #${lastSeq}`);
    expect(past.stderr).toContain('LOCKSTEP_INSPECT_NO_SUCH_ENTRY');
    const threw = await runCli(['inspect', logPath, TALLY, '--at', '5', '--eval', 'program.tallies.nobody.deeper']);
    expect(threw.code).toBe(1);
    expect(threw.stderr).toContain('TypeError');
    expect(threw.stderr).toContain('LOCKSTEP_INSPECT_EVAL_THREW');
    const custom = await runCli(['inspect', logPath, TALLY, '--eval', '(() => { throw new RangeError("made up") })()']);
    expect(custom.code).toBe(1);
    expect(custom.stderr).toContain('RangeError: made up');
    const otherProgram = await runCli(['inspect', logPath, guestPath('counter'), '--eval', '1']);
    expect(otherProgram.code).toBe(4);
    expect(otherProgram.stderr).toContain('LOCKSTEP_LOG_PROGRAM');
  });

  test('.next, .prev, .entry, .effects and .find move and show the current event; an evaluation changes nothing', async () => {
    const [first, second] = posts;
    const input = [`.at ${first.seq}`, '.effects', '.entry', 'program.tallies = null', `program.tallies[${JSON.stringify(first.name)}]`, '.next', '.prev', `.find /${second.name}`, '.effects', '.find no-such-text', '.nonsense', '.at 0'].join('\n') + '\n';
    const result = await runCliWithInput(['inspect', logPath, TALLY], input);
    expect(result.code).toBe(0);
    const [at, effects, entry, assigned, after, next, prev, found, foundEffects, notFound, unknown, zero] = jsonLines(result.stdout);
    expect(at).toMatchObject({ ok: true, at: first.seq });
    expect(effects.answered).toHaveLength(1);
    expect(effects.answered[0]).toMatchObject({ requestId: first.seq, status: 200, body: first.answer.body });
    expect(entry.entries[0]).toMatchObject({ seq: first.seq, kind: 'request', method: 'POST', path: `/${first.name}` });
    expect(entry.entries[1]).toMatchObject({ seq: first.seq + 1, kind: 'now' });
    expect(assigned).toMatchObject({ ok: true, value: null });
    expect(after).toEqual({ ok: true, at: first.seq, value: first.total }); // the assignment was undone
    expect(next.event.seq).toBeGreaterThan(first.seq);
    expect(prev.event.seq).toBe(first.seq);
    expect(found.event.seq).toBe(posts.find((p) => p.seq > first.seq && p.name === second.name)!.seq);
    expect(foundEffects.answered[0].requestId).toBe(found.event.seq);
    expect(notFound).toMatchObject({ ok: false, code: 'LOCKSTEP_INSPECT_NOTHING_THERE' });
    expect(unknown).toMatchObject({ ok: false, code: 'LOCKSTEP_INSPECT_COMMAND' });
    expect(zero).toMatchObject({ ok: false, code: 'LOCKSTEP_INSPECT_NO_SUCH_ENTRY' });
  });
});

describe('lockstep inspect on a recording of guest-programs/counter.js (answers given in a later event)', () => {
  test('.effects shows each answer at the event that released it, and the guest itself, asked there, says the same', async () => {
    assertBuilt();
    const dir = mkdtempSync(join(tmpdir(), 'lockstep-inspect-counter-'));
    const logPath = join(dir, 'counter.log');
    const node = await startRun(guestPath('counter'), ['--dir', join(dir, 'node'), '--record', logPath, '--checkpoint-every-entries', '10']);
    const client = new Client(node.port);
    for (let i = 0; i < 8; i++) await client.send('POST', '/increment');
    expect((await node.stop()).code).toBe(0);
    const seqs = requestSeqs(logPath);
    // Walk the whole log event by event, collecting every answer where it was released.
    const steps = 40;
    const input = ['.at 1', ...Array.from({ length: steps }, () => '.next\n.effects\nprogram.default.fetch({ method: "GET", path: "/count" })')].join('\n') + '\n';
    const result = await runCliWithInput(['inspect', logPath, guestPath('counter')], input);
    expect(result.code).toBe(0);
    const lines = jsonLines(result.stdout);
    const released = new Map<number, { body: string; probe: unknown }>();
    for (let i = 1; i + 2 < lines.length; i += 3) {
      if (!lines[i].ok) break; // the last event: nothing after it
      for (const answer of lines[i + 1].answered) released.set(answer.requestId, { body: answer.body, probe: lines[i + 2].value });
    }
    for (const answer of client.answers) {
      const at = released.get(seqs.get(answer.testId)!);
      expect(at?.body).toBe(answer.body);
      // Right after the event that released {count: k}, the guest's own GET /count says k.
      expect(at?.probe).toEqual({ body: JSON.parse(answer.body) });
    }
  });
});

describe('lockstep inspect on a tampered recording (test/fixtures/golden)', () => {
  test('exit 3 with the divergence; in a session the divergence is one result line and the session goes on', async () => {
    assertBuilt();
    const tampered = join(GOLDEN_DIR, 'counter.tampered.log');
    const { divergesAt } = (JSON.parse(readFileSync(join(GOLDEN_DIR, 'manifest.json'), 'utf8')) as Record<string, { tamper: { divergesAt: number } }>).counter.tamper;
    const oneShot = await runCli(['inspect', tampered, guestPath('counter'), '--at', String(divergesAt), '--eval', '1']);
    expect(oneShot.code).toBe(3);
    expect(oneShot.stderr).toContain(`Replay diverged at entry #${divergesAt}`);
    const session = await runCliWithInput(['inspect', tampered, guestPath('counter'), '--at', '1'], `.at ${divergesAt}\n.at 2\n.effects\n1 + 1\n`);
    expect(session.code).toBe(0);
    const [diverged, back, effects, value] = jsonLines(session.stdout);
    expect(diverged).toMatchObject({ ok: false, code: 'LOCKSTEP_DIVERGENCE' });
    expect(back).toMatchObject({ ok: true, at: 2, event: { seq: 1, description: 'event start' }, from: 'entry #1', replayed: back.lastSeq });
    expect(effects).toMatchObject({ ok: true, answered: [], wrote: [] });
    expect(value).toEqual({ ok: true, at: 2, value: 2 });
  });
});
