// Time is continuous across go-live: a node whose host clock is behind the log's (another host,
// or a clock step) never hands the guest a Date.now() earlier than one it has already seen, and
// performance.now() never goes backwards or negative.
import { readFile } from 'node:fs/promises';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { EntryQueue } from '../../src/engine/entry-queue.js';
import { Executor, type ExecutorHooks, type Output } from '../../src/engine/executor.js';
import type { Entry } from '../../src/log/entries.js';
import { DEFAULT_GUEST_LIMITS } from '../../src/sandbox/guest.js';

const LEDGER = new URL('../fixtures/guests/ledger.js', import.meta.url);
const HOUR_MS = 3_600_000;

function hooks(entries: Entry[], outputs: Output[]): ExecutorHooks {
  return {
    onEntry: (_seq, entry) => entries.push(entry),
    onOutput: (output) => outputs.push(output),
    actions: { armTimer: () => undefined, clearTimer: () => undefined, startRead: () => undefined },
  };
}

function answerOf(outputs: Output[], requestSeq: number): { now: number; perf: number } {
  const output = outputs.find((o) => o.effect.type === 'respond' && o.effect.requestId === requestSeq);
  if (!output || output.effect.type !== 'respond') throw new Error(`no answer to #${requestSeq}`);
  return JSON.parse(String(output.effect.body)) as { now: number; perf: number };
}

const request = { kind: 'request' as const, method: 'GET', path: '/now', headers: [] as Array<[string, string]>, body: new Uint8Array(0) };

afterEach(() => vi.restoreAllMocks());

describe('time across go-live', () => {
  it('never goes backwards when the new host clock is an hour behind the log', async () => {
    const source = await readFile(LEDGER, 'utf8');
    const options = { source, programName: 'ledger.js', limits: DEFAULT_GUEST_LIMITS };
    // The "old primary": its clock is an hour ahead of this host's.
    const recorded: Entry[] = [];
    const seen: Output[] = [];
    const realNow = Date.now.bind(Date);
    vi.spyOn(Date, 'now').mockImplementation(() => realNow() + HOUR_MS);
    const primary = await Executor.bootLive({ ...options, hooks: hooks(recorded, seen) });
    const before = answerOf(seen, primary.submit(request));
    primary.dispose();
    vi.restoreAllMocks();

    // The "secondary": replays that log, then goes live on a host whose clock is an hour behind it.
    const queue = new EntryQueue();
    queue.push(1, recorded);
    const mine: Entry[] = [];
    const outputs: Output[] = [];
    const secondary = await Executor.bootReplay({ ...options, hooks: hooks(mine, outputs) }, queue);
    while (secondary.replayNext()) { /* all of it */ }
    secondary.goLive();
    const after = answerOf(outputs, secondary.submit(request));
    secondary.dispose();

    expect(before.now).toBeGreaterThan(realNow() + HOUR_MS / 2);
    expect(after.now).toBeGreaterThanOrEqual(before.now);
    expect(after.perf).toBeGreaterThanOrEqual(before.perf);
    expect(after.perf).toBeGreaterThanOrEqual(0);
  });
});
