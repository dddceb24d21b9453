// Issue 20, item 1: every kind of effect (timer, file write and read, storage change, console line,
// an answer that waits on them) issued from a guest's start(), synchronously and after an await,
// under `lockstep run`, `lockstep primary` and a secondary's replay (it goes live after a SIGKILL).
// A timer armed in a synchronous start() used to crash `run` and `primary` at boot.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { request, ROOT, startPrimary, startRun, startSecondary, status, testResources, waitUntil, type StartedNode } from '../replication/helpers.js';

const { dirFor, track } = testResources();
const PROGRAM = join(ROOT, 'test/fixtures/guests/boot-effects.js');

interface Seen { ticks: number; later: string | null; seed: string; readBack: string; storage: string[] }

async function seen(node: StartedNode): Promise<Seen> {
  const answer = await request(node.url, { path: '/', timeoutMs: 10_000 });
  expect(answer.status, answer.body).toBe(200);
  return JSON.parse(answer.body) as Seen;
}

/** What start() did, as the guest and the data directory show it, once its timers have fired. */
async function expectBootEffects(node: StartedNode, dir: string, consoleBy: StartedNode = node): Promise<Seen> {
  // The 10 ms timer is armed only once start()'s first writes are durable: on a fast disk fetch() can
  // answer before it fires, so wait for it too (whether it fires at all is what is checked).
  await waitUntil(async () => ((s) => s.ticks >= 3 && s.later !== null)(await seen(node)), 20_000, 'the interval and the timer armed in start() fire');
  const now = await seen(node);
  expect(now).toMatchObject({ later: 'fired', readBack: 'sync', storage: ['stored-sync', 'stored-async'] });
  expect(now.seed).toMatch(/^error: ENOENT/);
  // Durable in the write journal when the guest saw them complete; the files follow it within ~50 ms.
  const onDisk = async (path: string) => readFile(join(dir, 'data', path), 'utf8').catch(() => '');
  await waitUntil(async () => (await onDisk('boot/async.txt')) === 'async' && /stored-async/.test(await onDisk('.lockstep/storage.json')), 5000, 'the files are brought up to date');
  expect(await onDisk('boot/sync.txt')).toBe('sync');
  expect(await onDisk('boot/async.txt')).toBe('async');
  expect(await onDisk('.lockstep/storage.json')).toMatch(/stored-async/);
  await consoleBy.proc.waitFor(/\[guest log\] boot: sync/);
  await consoleBy.proc.waitFor(/\[guest log\] boot: after await/);
  return now;
}

describe('effects issued from start()', () => {
  it('under `lockstep run`: the node boots, serves, and every effect happens', { timeout: 60_000 }, async () => {
    const dir = await dirFor('boot-run');
    const node = track(await startRun({ program: PROGRAM, dir }));
    await expectBootEffects(node, dir);
    expect(node.proc.alive).toBe(true);
  });

  it('under `lockstep primary`, and on its secondary after a SIGKILL of the primary', { timeout: 90_000 }, async () => {
    const dir = await dirFor('boot-pair');
    // The timing of the pair is not under test: a 2 s failure timeout keeps a loaded machine quiet.
    const primary = track(await startPrimary({ program: PROGRAM, dir, failureTimeoutMs: 2000 }));
    await expectBootEffects(primary, dir);
    const secondary = track(await startSecondary({ program: PROGRAM, dir, failureTimeoutMs: 2000, primaryUrl: `ws://127.0.0.1:${primary.logPort}` }));
    await waitUntil(async () => (await status(primary.url))?.protection === 'protected', 20_000, 'primary protected');
    const before = await seen(primary);
    await waitUntil(async () => (await status(secondary.url))?.lagEntries === 0, 20_000, 'secondary replayed everything');
    await primary.proc.kill();
    await waitUntil(async () => (await status(secondary.url))?.role === 'primary', 20_000, 'secondary live');
    // The console lines were released by the primary (the secondary only replayed them).
    const after = await expectBootEffects(secondary, dir, primary);
    expect(after.ticks).toBeGreaterThan(before.ticks); // the interval from start() goes on after go-live
    expect(secondary.proc.stderr).not.toMatch(/diverge/i);
    expect(secondary.proc.alive).toBe(true);
  });
});
