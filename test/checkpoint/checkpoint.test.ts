// Checkpoints in one process: a damaged or foreign checkpoint is refused with its own code; a
// perturbed state is caught at the next `checkpoint` entry before any output differs; the memory
// limit falls at the same point after a restore into a bigger memory.
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Packr } from 'msgpackr';
import { beforeAll, describe, expect, test } from 'vitest';
import { sparsePagesBytes } from '../../src/sandbox/sparse-heap.js';
import { checkpointLive, identityOf, restoreCheckpoint, takeCheckpoint } from '../../src/checkpoint/checkpoint.js';
import { CheckpointError } from '../../src/checkpoint/errors.js';
import { decodeCheckpoint, encodeCheckpoint, readCheckpointHeader } from '../../src/checkpoint/format.js';
import { EntryQueue } from '../../src/engine/entry-queue.js';
import { Executor, type ExecutorOptions, type Output } from '../../src/engine/executor.js';
import { loadProgram, type Program } from '../../src/engine/program.js';
import { DivergenceError } from '../../src/errors.js';
import type { Entry, GuestLimits } from '../../src/log/entries.js';
import { readLogFile } from '../../src/log/log-file.js';
import { DEFAULT_GUEST_LIMITS } from '../../src/sandbox/guest.js';
import { HEAP_BASE_BYTES } from '../../src/sandbox/quickjs-module.js';
import { assertBuilt, runCli } from '../../scripts/record-fixtures.lib.js';
import { guestFile, recordScripted, REPO, type Recording } from './scripted-recording.js';

function options(program: Program, limits: GuestLimits, onOutput: (output: Output) => void = () => {}, onEntry: (seq: number, entry: Entry) => void = () => {}): ExecutorOptions {
  return { source: program.source, programName: program.name, limits, hooks: { onEntry, onOutput, actions: { armTimer() {}, clearTimer() {}, startRead() {} } } };
}

async function refusal(promise: Promise<unknown>): Promise<CheckpointError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(CheckpointError);
  return error as CheckpointError;
}

/** Re-frames a header (with a correct header checksum) around the same body: a well-formed file with other header fields. */
function reframe(bytes: Uint8Array, change: Record<string, unknown>): Uint8Array {
  const { header, bodyOffset } = readCheckpointHeader(bytes);
  const packr = new Packr({ useRecords: false });
  const headerBytes = packr.pack({ ...header, ...change });
  const length = Buffer.alloc(4);
  length.writeUInt32BE(headerBytes.length);
  return Buffer.concat([Buffer.from('LOCKCKPT'), length, headerBytes, createHash('sha256').update(headerBytes).digest(), bytes.subarray(bodyOffset)]);
}

describe('a checkpoint that is damaged or foreign is refused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lockstep-checkpoint-unit-'));
  let recording: Recording;
  let bytes: Uint8Array;

  beforeAll(async () => {
    recording = await recordScripted('counter', dir, { events: 60, checkpointEveryEvents: 30 });
    bytes = readFileSync(recording.checkpoints[0]!.path);
  });

  const expected = () => identityOf(recording.program, DEFAULT_GUEST_LIMITS);

  test('the intact checkpoint decodes', async () => {
    const { header, state } = await decodeCheckpoint(bytes, expected());
    expect(header.seq).toBe(recording.checkpoints[0]!.seq);
    expect(header.stateDigest).toBe(recording.checkpoints[0]!.stateDigest);
    expect(sparsePagesBytes(state.heap.sparse)).toBe(header.heapUsedBytes);
    expect(state.heap.memoryBytes).toBe(header.heapBytes);
    expect(header.heapUsedBytes).toBeLessThan(header.heapBytes);
  });

  test.each([
    ['a body byte flipped', (b: Uint8Array) => flip(b, b.length - 100), 'LOCKSTEP_CHECKPOINT_CORRUPT', 'body checksum'],
    ['a header byte flipped', (b: Uint8Array) => flip(b, 20), 'LOCKSTEP_CHECKPOINT_CORRUPT', 'header'],
    ['truncated', (b: Uint8Array) => b.subarray(0, b.length - 1), 'LOCKSTEP_CHECKPOINT_CORRUPT', 'body has'],
    ['not a checkpoint', () => Buffer.from('LOCKSTEP log, not a checkpoint'), 'LOCKSTEP_CHECKPOINT_NOT_A_CHECKPOINT', 'not a Lockstep checkpoint'],
    ['another format version', (b: Uint8Array) => reframe(b, { formatVersion: 99 }), 'LOCKSTEP_CHECKPOINT_VERSION', 'format 99'],
    ['a forged state digest', (b: Uint8Array) => reframe(b, { stateDigest: 'e'.repeat(64) }), 'LOCKSTEP_CHECKPOINT_CORRUPT', 'restored to state digest'],
  ] as const)('%s', async (_what, damage, code, words) => {
    const program = recording.program;
    const queue = new EntryQueue(recording.checkpoints[0]!.seq + 1);
    const error = await refusal(restoreCheckpoint(damage(bytes), program, options(program, DEFAULT_GUEST_LIMITS), queue));
    expect(error.code).toBe(code);
    expect(error.message).toContain(words);
    expect(error.exitCode).toBe(4);
  });

  test('another program or other limits', async () => {
    const other = await loadProgram(guestFile('kv'));
    const queue = () => new EntryQueue(recording.checkpoints[0]!.seq + 1);
    const wrongProgram = await refusal(restoreCheckpoint(bytes, other, options(other, DEFAULT_GUEST_LIMITS), queue()));
    expect(wrongProgram.code).toBe('LOCKSTEP_CHECKPOINT_MISMATCH');
    expect(wrongProgram.message).toContain('counter.js');
    const limits = { ...DEFAULT_GUEST_LIMITS, cpuPollsPerEventMax: 7 };
    const wrongLimits = await refusal(restoreCheckpoint(bytes, recording.program, options(recording.program, limits), queue()));
    expect(wrongLimits.code).toBe('LOCKSTEP_CHECKPOINT_MISMATCH');
    expect(wrongLimits.message).toContain('cpuPollsPerEventMax=7');
  });

  test('entries that do not start right after it', async () => {
    const error = await refusal(restoreCheckpoint(bytes, recording.program, options(recording.program, DEFAULT_GUEST_LIMITS), new EntryQueue(1)));
    expect(error.code).toBe('LOCKSTEP_CHECKPOINT_MISMATCH');
    expect(error.message).toContain(`from #${recording.checkpoints[0]!.seq + 1}`);
  });

  test('checkpointBytesMax: past it, neither taken nor restored', async () => {
    const { header, state } = await decodeCheckpoint(bytes, expected());
    const small = header.bodyRawBytes - 1;
    const encodeError = await refusal(encodeCheckpoint(expected(), state, header.stateDigest, { checkpointBytesMax: small }));
    expect(encodeError.code).toBe('LOCKSTEP_CHECKPOINT_TOO_LARGE');
    const decodeError = await refusal(decodeCheckpoint(bytes, expected(), { checkpointBytesMax: small }));
    expect(decodeError.code).toBe('LOCKSTEP_CHECKPOINT_TOO_LARGE');
    await expect(decodeCheckpoint(bytes, expected(), { checkpointBytesMax: header.bodyRawBytes })).resolves.toBeDefined();
  });

  test('the CLI refuses a tampered checkpoint with its code and exit 4, no stack trace', async () => {
    assertBuilt();
    const tampered = join(dir, 'tampered.ckpt');
    writeFileSync(tampered, flip(bytes, bytes.length - 100));
    const result = await runCli(['replay', recording.logPath, recording.program.path, '--from-checkpoint', tampered]);
    expect(result.code).toBe(4);
    expect(result.stderr).toContain('[LOCKSTEP_CHECKPOINT_CORRUPT]');
    expect(result.stderr).toContain(tampered);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('the state digest', () => {
  test('a perturbed state is caught at the next checkpoint entry, before any output differs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lockstep-checkpoint-perturb-'));
    const recording = await recordScripted('kv', dir, { events: 90, checkpointEveryEvents: 30 });
    const [first, second] = recording.checkpoints;
    const { entries } = readLogFile(recording.logPath);
    // The recorded outputs up to the second checkpoint, from an unperturbed replay.
    const clean: string[] = [];
    const perturbed: string[] = [];
    for (const [outputs, perturb] of [
      [clean, (_e: Executor) => {}],
      // One byte of the heap near its end (free memory: no output depends on it).
      [perturbed, (e: Executor) => (e.heapView()[e.heapView().length - 1] ^= 1)],
    ] as const) {
      const queue = new EntryQueue(first!.seq + 1);
      queue.push(first!.seq + 1, entries.slice(first!.seq));
      const program = recording.program;
      const { executor } = await restoreCheckpoint(readFileSync(first!.path), program, options(program, DEFAULT_GUEST_LIMITS, (o) => outputs.push(JSON.stringify(o.effect))), queue);
      executor.replayNext(); // the checkpoint entry itself: the restored state is checked first
      perturb(executor);
      let error: unknown;
      try {
        while (executor.replayNext());
      } catch (e) {
        error = e;
      }
      if (outputs === perturbed) {
        expect(error).toBeInstanceOf(DivergenceError);
        const divergence = error as DivergenceError;
        expect(divergence.seq).toBe(second!.seq + 1);
        expect(divergence.message).toContain(second!.stateDigest);
      }
      executor.dispose();
    }
    expect(perturbed.length).toBeGreaterThan(0);
    expect(perturbed).toEqual(clean.slice(0, perturbed.length));
  });

  test('host state is part of it: a changed idempotency store is caught too', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lockstep-checkpoint-host-'));
    const recording = await recordScripted('counter', dir, { events: 60, checkpointEveryEvents: 30 });
    const [first, second] = recording.checkpoints;
    const { entries } = readLogFile(recording.logPath);
    const queue = new EntryQueue(first!.seq + 1);
    queue.push(first!.seq + 1, entries.slice(first!.seq));
    const { executor } = await restoreCheckpoint(readFileSync(first!.path), recording.program, options(recording.program, DEFAULT_GUEST_LIMITS), queue);
    executor.replayNext(); // the checkpoint entry: the restored state is still the recorded one
    executor.idempotency.register('a-key-the-log-never-saw', 1);
    expect(() => {
      while (executor.replayNext());
    }).toThrow(`entry #${second!.seq + 1}`);
    executor.dispose();
  });
});

describe('the memory limit after a restore into a bigger memory', () => {
  test('falls at the same request as in the original run', async () => {
    const program = await loadProgram(join(REPO, 'test', 'fixtures', 'guests', 'hoarder.js'));
    const limits: GuestLimits = { ...DEFAULT_GUEST_LIMITS, memoryBytesMax: 12 * 1024 * 1024 };
    const log: Entry[] = [];
    const liveOutputs: string[] = [];
    const live = await Executor.bootLive(options(program, limits, (o) => liveOutputs.push(JSON.stringify(o.effect)), (_s, e) => log.push(e)));
    const grow = () => live.submit({ kind: 'request', method: 'POST', path: '/grow', headers: [], body: new Uint8Array(0) });
    for (let i = 0; i < 14; i++) grow();
    const checkpoint = checkpointLive(live, identityOf(program, limits));
    for (let i = 0; i < 16; i++) grow();
    const { bytes, header } = await checkpoint.done;
    live.dispose();
    expect(header.heapBytes).toBeGreaterThan(HEAP_BASE_BYTES); // the restore starts with more than the build's initial memory
    expect(liveOutputs.some((o) => o.includes('memory_limit_exceeded'))).toBe(true);

    const queue = new EntryQueue(checkpoint.seq + 1);
    queue.push(checkpoint.seq + 1, log.slice(checkpoint.seq));
    const restoredOutputs: string[] = [];
    const { executor } = await restoreCheckpoint(bytes, program, options(program, limits, (o) => restoredOutputs.push(JSON.stringify(o.effect))), queue);
    while (executor.replayNext());
    executor.dispose();
    expect(restoredOutputs).toEqual(liveOutputs.slice(liveOutputs.length - restoredOutputs.length));
    expect(restoredOutputs.length).toBe(16);
    expect(restoredOutputs.some((o) => o.includes('memory_limit_exceeded'))).toBe(true);
  });

  test('takeCheckpoint in replay mode gives the digest the live run logged', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lockstep-checkpoint-replaymode-'));
    const recording = await recordScripted('cron', dir, { events: 40, checkpointEveryEvents: 20 });
    const { entries } = readLogFile(recording.logPath);
    const queue = new EntryQueue();
    queue.push(1, entries);
    const executor = await Executor.bootReplay(options(recording.program, DEFAULT_GUEST_LIMITS), queue);
    while (executor.lastSeq < recording.checkpoints[0]!.seq) executor.replayNext();
    const taken = await takeCheckpoint(executor, identityOf(recording.program, DEFAULT_GUEST_LIMITS));
    executor.dispose();
    expect(taken.header.stateDigest).toBe(recording.checkpoints[0]!.stateDigest);
    expect(taken.pauseMs).toBeGreaterThan(0);
  });
});

function flip(bytes: Uint8Array, at: number): Uint8Array {
  const copy = Uint8Array.from(bytes);
  copy[at]! ^= 0xff;
  return copy;
}
