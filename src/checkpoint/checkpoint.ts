// Taking and restoring checkpoints of an executor: the whole guest state at an entry boundary.
// Taking one pauses the event loop only for a copy of the guest heap and the host state; hashing and
// compressing run off it. Restoring one in any process, then replaying the log after it, gives
// exactly what replaying from entry #1 gives (same outputs, same digests).
import { performance } from 'node:perf_hooks';
import { Executor, type ExecutorOptions, type ExecutorState } from '../engine/executor.js';
import { RUNTIME_ID, type Program } from '../engine/program.js';
import type { GuestLimits } from '../log/entries.js';
import type { EntrySource } from '../world/replay-world.js';
import { CheckpointError } from './errors.js';
import { decodeCheckpoint, encodeCheckpoint, readCheckpointHeader, type CheckpointHeader, type CheckpointIdentity, type EncodeOptions } from './format.js';
import { stateDigest, stateDigestSync } from './state-digest.js';

export interface Checkpoint {
  header: CheckpointHeader;
  bytes: Uint8Array;
  /** How long the event loop was held to take it (the state copy), in ms. */
  pauseMs: number;
}

export function identityOf(program: Program, limits: GuestLimits): CheckpointIdentity {
  return { runtime: RUNTIME_ID, programHash: program.hash, programName: program.name, limits: { ...limits } };
}

/**
 * A checkpoint of `executor` as it is now, after entry #executor.lastSeq. The state is copied
 * synchronously, before this returns its promise, so the caller may deliver the next event at once.
 * Call it between events only (not from an executor hook).
 */
export function takeCheckpoint(executor: Executor, identity: CheckpointIdentity, options: EncodeOptions = {}): Promise<Checkpoint> {
  const started = performance.now();
  const state = executor.captureState();
  const pauseMs = performance.now() - started;
  return encodeState(identity, state, options).then(({ bytes, header }) => ({ bytes, header, pauseMs }));
}

export interface LiveCheckpoint {
  /** The state is the one after entry #seq; entry #seq+1 is the `checkpoint` entry with its digest. */
  seq: number;
  stateDigest: string;
  /** How long the event loop was held (state copy and digest), in ms. */
  pauseMs: number;
  /** The encoded checkpoint (compression and checksum run off the event loop). */
  done: Promise<Checkpoint>;
}

/**
 * On a live executor (the primary, or a standalone recording): copies the state after the last
 * entry, logs a `checkpoint` entry with its digest (so every replayer checks its own state there),
 * and encodes the copy off the event loop. A replayer restored from this checkpoint replays on from
 * the `checkpoint` entry, so the first thing it does is verify the restored state.
 */
export function checkpointLive(executor: Executor, identity: CheckpointIdentity, options: EncodeOptions = {}): LiveCheckpoint {
  const started = performance.now();
  const state = executor.captureState();
  const digest = stateDigestSync(state.host, state.heap);
  executor.logStateDigest(digest, state.host.lastSeq);
  const pauseMs = performance.now() - started;
  const done = encodeCheckpoint(identity, state, digest, options).then((bytes) => ({ bytes, header: readCheckpointHeader(bytes).header, pauseMs }));
  return { seq: state.host.lastSeq, stateDigest: digest, pauseMs, done };
}

/**
 * On a live executor: logs a `checkpoint` entry with the digest of the state now, without a
 * checkpoint (no copy: the heap is hashed in place). For an online divergence check.
 */
export function logStateDigest(executor: Executor): { seq: number; stateDigest: string } {
  const host = executor.hostState();
  const view = executor.heapView();
  const digest = stateDigestSync(host, { live: view });
  executor.logStateDigest(digest, host.lastSeq);
  return { seq: host.lastSeq, stateDigest: digest };
}

async function encodeState(identity: CheckpointIdentity, state: ExecutorState, options: EncodeOptions): Promise<{ bytes: Uint8Array; header: CheckpointHeader }> {
  const digest = await stateDigest(state.host, state.heap);
  const bytes = await encodeCheckpoint(identity, state, digest, options);
  return { bytes, header: readCheckpointHeader(bytes).header };
}

/**
 * The state digest of `executor` now (after entry #lastSeq), for an online divergence check: two
 * nodes at the same entry must agree. The non-zero pages are copied synchronously (about a
 * millisecond); the hashing runs off the event loop.
 */
export function stateDigestNow(executor: Executor): Promise<{ seq: number; digest: string }> {
  const { host, heap } = executor.captureState();
  return stateDigest(host, heap).then((digest) => ({ seq: host.lastSeq, digest }));
}

export interface RestoreOptions extends EncodeOptions {
  /** For messages: where the checkpoint came from (a file name, a peer). */
  source?: string;
}

/**
 * An executor in replay mode, in the state `bytes` holds, replaying on from `entries` (whose next
 * entry must be the one after the checkpoint's). `options` must name the same program and limits the
 * checkpoint was taken with, or it is refused (CheckpointError). The restored state's digest is
 * recomputed and must equal the one the checkpoint was taken with.
 */
export async function restoreCheckpoint(
  bytes: Uint8Array,
  program: Program,
  options: ExecutorOptions,
  entries: EntrySource,
  restoreOptions: RestoreOptions = {},
): Promise<{ executor: Executor; header: CheckpointHeader }> {
  const source = restoreOptions.source ?? 'the checkpoint';
  const { header, state } = await decodeCheckpoint(bytes, identityOf(program, options.limits), { ...restoreOptions, source });
  if (entries.nextSeq() !== header.seq + 1) {
    throw new CheckpointError(
      'LOCKSTEP_CHECKPOINT_MISMATCH',
      `${source} holds the state after entry #${header.seq}, but the entries given to replay after it start at #${entries.nextSeq()}. Give the log from #${header.seq + 1} on.`,
    );
  }
  const executor = await Executor.restoreReplay(options, state, entries);
  // The memory as restored, not the image: this also checks the restore itself.
  const digest = stateDigestSync(executor.hostState(), { live: executor.heapView() });
  if (digest !== header.stateDigest) {
    executor.dispose();
    throw new CheckpointError(
      'LOCKSTEP_CHECKPOINT_CORRUPT',
      `${source} (after entry #${header.seq}) restored to state digest ${digest}, but it was taken with ${header.stateDigest}: it was tampered with, or the runtime restores differently. It was not used.`,
    );
  }
  return { executor, header };
}
