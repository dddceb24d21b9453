// A checkpoint restored in another process, then the log after it replayed, gives exactly what
// replaying from entry #1 gives: the same outputs, the same outputs digest, the same state digest.
// The recording is made in this process by a live executor; every replay is a real `lockstep replay`
// process (compiled CLI), so checkpoints cross process boundaries both ways.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { readCheckpointHeader, decodeCheckpoint } from '../../src/checkpoint/format.js';
import { identityOf } from '../../src/checkpoint/checkpoint.js';
import { DEFAULT_GUEST_LIMITS } from '../../src/sandbox/guest.js';
import { assertBuilt, runCli } from '../../scripts/record-fixtures.lib.js';
import { recordScripted, type Recording } from './scripted-recording.js';

// Disk, timers, a map and randomness; bank and echo add nothing these do not cover.
const GUESTS = ['counter', 'cron', 'kv', 'lottery'] as const;

interface Summary {
  firstSeq: number;
  lastSeq: number;
  events: number;
  outputs: number;
  outputsDigest: string;
  stateDigest: string;
}

async function replay(args: string[]): Promise<Summary> {
  const result = await runCli(['replay', ...args, '--json']);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout.trim()) as Summary;
}

const lines = (path: string) => readFileSync(path, 'utf8').split('\n').filter((line) => line.length > 0);

describe('checkpoint restored in another process', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lockstep-checkpoint-'));
  const recordings = new Map<string, Recording>();

  beforeAll(async () => {
    assertBuilt();
    for (const name of GUESTS) recordings.set(name, await recordScripted(name, dir, { events: 240, checkpointEveryEvents: 80 }));
  });

  test.each(GUESTS)('%s: restore + replay the rest = replay from #1 (outputs, outputs digest, state digest)', async (name) => {
    const { logPath, program, checkpoints } = recordings.get(name)!;
    expect(checkpoints.length).toBe(3);
    const full = join(dir, `${name}.full.jsonl`);
    // From #1: passes every `checkpoint` entry, so the replayed state equals the live one at each.
    const fromStart = await replay([logPath, program.path, '--outputs', full]);

    // The live executor's checkpoint (taken in this process), restored in a replay process. The first
    // one is taken with the first disk read still pending.
    const live = checkpoints[GUESTS.indexOf(name) % 2]!;
    const rest = join(dir, `${name}.rest.jsonl`);
    const fromLive = await replay([logPath, program.path, '--from-checkpoint', live.path, '--outputs', rest]);
    expect(fromLive.firstSeq).toBe(live.seq + 1);
    expect(fromLive.outputsDigest).toBe(fromStart.outputsDigest);
    expect(fromLive.stateDigest).toBe(fromStart.stateDigest);
    expect(fromLive.events).toBe(fromStart.events);
    const all = lines(full);
    expect(lines(rest)).toEqual(all.slice(all.length - fromLive.outputs));

    // A replay process stops at the same entry: its state digest is the live one there, and the
    // checkpoint it writes, restored in a third process, also ends where replay from #1 ends.
    const ckpt = join(dir, `${name}.replayed.ckpt`);
    const upTo = await replay([logPath, program.path, '--to', String(live.seq), '--checkpoint-out', ckpt]);
    expect(upTo.lastSeq).toBe(live.seq);
    expect(upTo.stateDigest).toBe(live.stateDigest);
    expect(readCheckpointHeader(readFileSync(ckpt)).header.stateDigest).toBe(live.stateDigest);
    expect(upTo.outputs + fromLive.outputs).toBe(fromStart.outputs);
    const again = await replay([logPath, program.path, '--from-checkpoint', ckpt]);
    expect(again.outputsDigest).toBe(fromStart.outputsDigest);
    expect(again.stateDigest).toBe(fromStart.stateDigest);
  });

  test('the checkpoints taken hold pending timers, reads, writes and idempotency keys', async () => {
    const seen = { timers: 0, reads: 0, writes: 0, keys: 0, unanswered: 0 };
    for (const { program, checkpoints } of recordings.values()) {
      for (const { path } of checkpoints) {
        const { state } = await decodeCheckpoint(readFileSync(path), identityOf(program, DEFAULT_GUEST_LIMITS));
        seen.timers += state.host.timers.length;
        seen.reads += state.host.pendingReads.length;
        seen.writes += state.host.pendingWrites.length;
        seen.keys += state.host.idempotency.keys.length;
        seen.unanswered += state.host.idempotency.unanswered.length;
      }
    }
    expect(seen.timers).toBeGreaterThan(0);
    expect(seen.reads).toBeGreaterThan(0);
    expect(seen.writes).toBeGreaterThan(0);
    expect(seen.keys).toBeGreaterThan(0);
    expect(seen.unanswered).toBeGreaterThan(0);
  });
});
