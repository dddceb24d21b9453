// The checkpoint policy of a pair node (src/checkpoint/node-checkpoints.ts), against a real live
// executor: each trigger (entries, log bytes, time) takes a checkpoint once passed and not before;
// one is encoded at a time; the newest is kept with its pause figures.
import { describe, expect, it } from 'vitest';
import { DEFAULT_CHECKPOINT_POLICY, NodeCheckpoints, type CheckpointPolicy } from '../../src/checkpoint/node-checkpoints.js';
import { CHECKPOINT_BYTES_MAX_DEFAULT, readCheckpointHeader } from '../../src/checkpoint/format.js';
import { recordRun } from '../sandbox/in-process.js';

const GUEST = `let n = 0; export default { fetch() { n += 1; return String(n); } };`;
const OFF: CheckpointPolicy = { everyEntries: 0, everyLogBytes: 0, everyMs: 0, checkpointBytesMax: CHECKPOINT_BYTES_MAX_DEFAULT };
const identity = { runtime: 'test', programHash: 'h', programName: 'g.js', limits: { memoryBytesMax: 1, stackBytesMax: 1, cpuPollsPerEventMax: 1 } };
const settle = () => new Promise((resolve) => setTimeout(resolve, 300)); // encoding runs off the event loop
/** Until `done()` (encoding off the event loop can take long on a loaded machine), at most 20 s. */
async function eventually(done: () => boolean): Promise<void> {
  for (const deadline = Date.now() + 20_000; !done() && Date.now() < deadline; ) await new Promise((resolve) => setTimeout(resolve, 20));
}

async function withPolicy(policy: CheckpointPolicy, body: (ask: () => void, checkpoints: NodeCheckpoints, logBytes: { n: number }, entries: () => string[]) => Promise<void>): Promise<void> {
  const run = await recordRun(GUEST);
  const logBytes = { n: 0 };
  const checkpoints = new NodeCheckpoints({ policy, identity, logBytes: () => logBytes.n, log: () => {} });
  const ask = () => {
    run.ask({ path: '/' });
    checkpoints.afterLiveEvent(run.executor);
  };
  try {
    await body(ask, checkpoints, logBytes, () => run.entries.map(([, entry]) => entry.kind));
  } finally {
    run.dispose();
  }
}

describe('a pair node\'s checkpoint policy', () => {
  it('by entries: one once N entries were logged since the last, with a checkpoint entry in the log', async () => {
    await withPolicy({ ...OFF, everyEntries: 20 }, async (ask, checkpoints, _logBytes, kinds) => {
      for (let i = 0; i < 10; i++) ask();
      await settle();
      expect(checkpoints.newest).toBeUndefined();
      for (let i = 0; i < 15; i++) ask();
      await eventually(() => checkpoints.newest !== undefined);
      const newest = checkpoints.newest!;
      expect(newest.seq).toBeGreaterThanOrEqual(20);
      expect(readCheckpointHeader(newest.bytes).header.seq).toBe(newest.seq);
      expect(kinds()[newest.seq]).toBe('checkpoint'); // entry #seq+1 carries the digest every replayer checks
      expect(checkpoints.status()).toMatchObject({ checkpointsTaken: 1, checkpointSeq: newest.seq });
      expect(checkpoints.status().checkpointPauseMsP50).toBeGreaterThan(0);
    });
  });

  it('by log bytes: one once the log grew by M bytes', async () => {
    await withPolicy({ ...OFF, everyLogBytes: 5000 }, async (ask, checkpoints, logBytes) => {
      logBytes.n = 4999;
      ask();
      await settle();
      expect(checkpoints.newest).toBeUndefined();
      logBytes.n = 5000;
      ask();
      await eventually(() => checkpoints.newest !== undefined);
      expect(checkpoints.newest).toBeDefined();
    });
  });

  it('by time: one after T ms, only if something was logged', async () => {
    await withPolicy({ ...OFF, everyMs: 100 }, async (ask, checkpoints) => {
      ask();
      expect(checkpoints.newest).toBeUndefined();
      await new Promise((resolve) => setTimeout(resolve, 150));
      ask();
      await eventually(() => checkpoints.status().checkpointsTaken === 1);
      expect(checkpoints.status().checkpointsTaken).toBe(1);
    });
  });

  it('a checkpoint over checkpointBytesMax is not taken, and the failure is counted', async () => {
    await withPolicy({ ...DEFAULT_CHECKPOINT_POLICY, everyEntries: 5, checkpointBytesMax: 1024 }, async (ask, checkpoints) => {
      for (let i = 0; i < 8; i++) ask();
      await settle();
      expect(checkpoints.newest).toBeUndefined();
      expect(checkpoints.status().checkpointsFailed).toBe(1);
    });
  });
});
