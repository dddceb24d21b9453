// One event cannot flood the log through the doorway: clock reads past the per-event budget stop
// advancing (and are not logged), entropy past its budget throws in the guest, and a replay of the
// recorded log stops at exactly the same calls.
import { describe, expect, it } from 'vitest';
import { EntryQueue } from '../../src/engine/entry-queue.js';
import { Executor, type ExecutorHooks, type Output } from '../../src/engine/executor.js';
import type { Entry } from '../../src/log/entries.js';
import { DEFAULT_GUEST_LIMITS } from '../../src/sandbox/guest.js';
import { CLOCK_READS_PER_EVENT_MAX, RANDOM_BYTES_PER_EVENT_MAX } from '../../src/world/event-budget.js';

const GREEDY = `
export default {
  fetch() {
    let last = 0;
    for (let i = 0; i < ${CLOCK_READS_PER_EVENT_MAX + 20_000}; i++) last = Date.now();
    let error = '';
    let given = 0;
    try {
      for (let i = 0; i < 40; i++) { crypto.getRandomValues(new Uint8Array(65536)); given += 65536; }
    } catch (e) { error = e.message; }
    return { body: { last, error, given } };
  },
};`;

function hooks(entries: Entry[], outputs: Output[]): ExecutorHooks {
  return {
    onEntry: (_seq, entry) => entries.push(entry),
    onOutput: (output) => outputs.push(output),
    actions: { armTimer: () => undefined, clearTimer: () => undefined, startRead: () => undefined },
  };
}

describe('per-event budget of the doorway', () => {
  it('bounds clock reads and entropy per event, identically on record and replay', async () => {
    const options = { source: GREEDY, programName: 'greedy.js', limits: { ...DEFAULT_GUEST_LIMITS, cpuPollsPerEventMax: 1_000_000 } };
    const recorded: Entry[] = [];
    const live: Output[] = [];
    const executor = await Executor.bootLive({ ...options, hooks: hooks(recorded, live) });
    const before = recorded.length;
    executor.submit({ kind: 'request', method: 'GET', path: '/', headers: [], body: new Uint8Array(0) });
    const eventEntries = recorded.slice(before);
    executor.dispose();
    expect(eventEntries.filter((e) => e.kind === 'now').length).toBe(CLOCK_READS_PER_EVENT_MAX);
    const randomBytes = eventEntries.filter((e) => e.kind === 'random').reduce((n, e) => n + (e.kind === 'random' ? e.bytes.length : 0), 0);
    expect(randomBytes).toBe(RANDOM_BYTES_PER_EVENT_MAX);
    const answer = live.find((o) => o.effect.type === 'respond')!.effect as { body: string };
    const body = JSON.parse(answer.body) as { error: string; given: number };
    expect(body.error).toMatch(/at most 1048576 bytes of entropy per event/);
    expect(body.given).toBe(RANDOM_BYTES_PER_EVENT_MAX);

    const queue = new EntryQueue();
    queue.push(1, recorded);
    const replayed: Output[] = [];
    const replay = await Executor.bootReplay({ ...options, hooks: hooks([], replayed) }, queue);
    while (replay.replayNext()) { /* all */ }
    expect(replay.outputsDigest()).toBe(executor.outputsDigest());
    expect((replayed.find((o) => o.effect.type === 'respond')!.effect as { body: string }).body).toBe(answer.body);
    replay.dispose();
  });
});
