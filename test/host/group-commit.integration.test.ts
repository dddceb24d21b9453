// A guest that awaits a file write per request, under concurrent load in a real `lockstep run
// --record` process (so its writes are coalesced), replays offline in another process to exactly
// the answers the clients got; the file ends with the last count, and every call saw its completion.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { OutputEffect } from '../../src/sandbox/effects.js';
import { readLogFile } from '../../src/log/log-file.js';
import { assertBuilt, guestPath, runCli, startRun } from '../../scripts/record-fixtures.lib.js';

const REQUESTS = 240;
const CONCURRENCY = 16;

let work: string;
beforeAll(async () => {
  assertBuilt();
  work = await mkdtemp(join(tmpdir(), 'lockstep-group-commit-run-'));
});
afterAll(() => rm(work, { recursive: true, force: true }));

it('a guest writing per request under concurrent load replays offline to the same answers', async () => {
  const dir = join(work, 'node');
  const logPath = join(work, 'write.log');
  const node = await startRun(guestPath('bench-write'), ['--dir', dir, '--record', logPath]);
  const answers: string[] = [];
  let next = 0;
  const client = async () => {
    while (next < REQUESTS) {
      next++;
      const response = await fetch(`http://127.0.0.1:${node.port}/`, { method: 'POST' });
      expect(response.status).toBe(200);
      answers.push(await response.text());
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, client));
  const recorded = await node.stop();
  expect(recorded.code, recorded.stderr).toBe(0);

  // Every request got its own count, and the file holds the last one.
  expect(answers.map(Number).sort((a, b) => a - b)).toEqual(Array.from({ length: REQUESTS }, (_, i) => i + 1));
  expect(await readFile(join(dir, 'data', 'bench-write.txt'), 'utf8')).toBe(String(REQUESTS));
  // Every guest call saw its own successful completion, logged as an event.
  const { entries } = readLogFile(logPath);
  const writes = entries.filter((e) => e.kind === 'write');
  expect(writes).toHaveLength(REQUESTS);
  expect(writes.every((e) => e.kind === 'write' && e.ok)).toBe(true);

  const outputsPath = join(work, 'write.outputs.jsonl');
  const replayed = await runCli(['replay', logPath, guestPath('bench-write'), '--outputs', outputsPath]);
  expect(replayed.stderr).toBe('');
  expect(replayed.code).toBe(0);
  const outputs = (await readFile(outputsPath, 'utf8')).trim().split('\n').map((line) => JSON.parse(line) as OutputEffect);
  const responds = outputs.flatMap((o) => (o.type === 'respond' ? [String(o.body)] : []));
  expect(responds.sort()).toEqual([...answers].sort());
}, 60_000);
