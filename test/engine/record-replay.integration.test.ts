// Record in one real `lockstep run` process under generated load, replay in another process on a
// "far" host (other TZ and locale): every answer the client received is reproduced byte for byte
// by the replay's `respond` outputs (matched to requests through the log), and the digests agree.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OutputEffect } from '../../src/sandbox/effects.js';
import { readLogFile } from '../../src/log/log-file.js';
import { assertBuilt, Client, driveGuest, FAR_ENVS, GUEST_NAMES, guestPath, runCli, startRun } from '../../scripts/record-fixtures.lib.js';

let work: string;
beforeAll(async () => {
  assertBuilt();
  work = await mkdtemp(join(tmpdir(), 'lockstep-record-replay-'));
});
afterAll(() => rm(work, { recursive: true, force: true }));

describe.concurrent.each(GUEST_NAMES.map((name, i) => ({ name, seed: 100 + i, env: FAR_ENVS[(i + 1) % FAR_ENVS.length]! })))('$name', ({ name, seed, env }) => {
  it(`replays (TZ=${env.TZ}) to exactly the answers the client got`, async () => {
    const dir = join(work, name);
    const logPath = join(work, `${name}.log`);
    const outputsPath = join(work, `${name}.outputs.jsonl`);
    const node = await startRun(guestPath(name), ['--dir', dir, '--record', logPath]);
    const client = new Client(node.port);
    await driveGuest(name, client, seed);
    const recorded = await node.stop();
    expect(recorded.code).toBe(0);
    expect(recorded.stderr).toContain('stopped after');

    // Map each request entry (its seq is the request id) to the answer its client got.
    const { entries } = readLogFile(logPath);
    const answerBySeq = new Map<number, (typeof client.answers)[number]>();
    entries.forEach((entry, i) => {
      if (entry.kind !== 'request') return;
      const testId = entry.headers.find(([k]) => k === 'x-test-id')?.[1];
      const answer = client.answers.find((a) => a.testId === testId);
      expect(answer, `request #${i + 1} has an answer`).toBeDefined();
      answerBySeq.set(i + 1, answer!);
    });
    expect(answerBySeq.size).toBe(client.answers.length);
    const finalCheck = entries.at(-1);
    expect(finalCheck?.kind).toBe('check');

    const replayed = await runCli(['replay', logPath, guestPath(name), '--outputs', outputsPath], env);
    expect(replayed.stderr).toBe('');
    expect(replayed.code).toBe(0);
    expect(replayed.stdout).toContain(`digest ${finalCheck?.kind === 'check' ? finalCheck.digest : '?'}`);

    const outputs = (await readFile(outputsPath, 'utf8')).trim().split('\n').map((line) => JSON.parse(line) as OutputEffect);
    const responds = outputs.filter((o): o is Extract<OutputEffect, { type: 'respond' }> => o.type === 'respond');
    expect(responds.length).toBe(client.answers.length);
    for (const r of responds) {
      const answer = answerBySeq.get(r.requestId);
      expect(answer, `respond to request #${r.requestId}`).toBeDefined();
      expect({ status: r.status, body: r.body }).toEqual({ status: answer!.status, body: answer!.body });
      if (r.headers['content-type']) expect(answer!.contentType).toBe(r.headers['content-type']);
    }
    // Guest-specific facts the answers must show (so the load really exercised the program).
    const statuses = new Set(client.answers.map((a) => a.status));
    switch (name) {
      case 'bank': {
        expect(statuses.has(409)).toBe(true);
        const totals = client.answers.filter((a) => a.path === '/total').map((a) => JSON.parse(a.body).total);
        expect(totals).toEqual([4000, 4000]);
        break;
      }
      case 'counter': {
        // Four concurrent first increments all counted: no lost update.
        const last = client.answers.filter((a) => a.path === '/count').at(-1)!;
        expect(JSON.parse(last.body).count).toBe(8);
        break;
      }
      case 'cron':
        expect(Math.max(...client.answers.filter((a) => a.status === 200).map((a) => JSON.parse(a.body).ticks))).toBeGreaterThan(2);
        break;
      case 'lottery': {
        const draws = JSON.parse(client.answers.at(-1)!.body).draws;
        expect(draws).toHaveLength(2);
        expect(draws[0].winner).toMatch(/^(ann|ben|cat|dan)1$/);
        break;
      }
      case 'kv':
        expect(statuses.has(404) && statuses.has(201) && statuses.has(405)).toBe(true);
        break;
      case 'echo':
        expect(client.answers.find((a) => a.body === 'héllo wörld ✓')?.status).toBe(200);
        break;
      case 'shortener': {
        expect([...statuses].sort()).toEqual([200, 201, 302, 400, 404, 409]);
        // Each random-slug link was visited twice (concurrently): both visits counted.
        const listed = JSON.parse(client.answers.at(-1)!.body).links as Array<{ slug: string; hits: number; createdAt: string }>;
        expect(listed.filter((l) => l.hits === 2)).toHaveLength(3);
        for (const link of listed) expect(link.createdAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
        break;
      }
    }
    // Disk writes are replayed outputs too. Writes to one file complete in issue order, so the logged
    // completions are the first writes issued to each file; the last few may have been issued but not
    // completed when the node stopped (how many depends on the disk: they are group-committed).
    const issuedByPath = new Map<string, number[]>();
    for (const o of outputs) if (o.type === 'write') issuedByPath.set(o.path, [...(issuedByPath.get(o.path) ?? []), o.opId]);
    const pathOf = new Map([...issuedByPath].flatMap(([path, ids]) => ids.map((id) => [id, path] as const)));
    const completedByPath = new Map<string, number[]>();
    for (const e of entries) {
      if (e.kind !== 'write') continue;
      const path = pathOf.get(e.opId);
      expect(path, `write completion of op ${e.opId} matches a write output`).toBeDefined();
      completedByPath.set(path!, [...(completedByPath.get(path!) ?? []), e.opId]);
    }
    for (const [path, completed] of completedByPath) expect(completed).toEqual(issuedByPath.get(path)!.slice(0, completed.length));
    const writeCompletions = entries.filter((e) => e.kind === 'write').length;
    if (name !== 'echo') expect(writeCompletions).toBeGreaterThan(0);
  });
});
