// Arbitration on shared storage in process: the O_EXCL claim has exactly one winner however many
// race for it; the claim records its owner; only the owner updates it; unreachable storage is a
// SharedStorageError with exit code 11.
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { claimEpoch, currentClaim, currentEpoch, NODE_ID, updateOwnClaim } from '../../src/replication/arbitration.js';
import { SharedStorageError } from '../../src/replication/errors.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lockstep-arbitration-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function storageError(action: () => Promise<unknown>): Promise<SharedStorageError> {
  try {
    await action();
  } catch (error) {
    if (error instanceof SharedStorageError) return error;
    throw error;
  }
  throw new Error('no SharedStorageError');
}

describe('claimEpoch', () => {
  it('exactly one of many concurrent claimers of an epoch wins', async () => {
    for (const epoch of [1, 2, 3]) {
      const results = await Promise.all(Array.from({ length: 24 }, (_, i) => claimEpoch(dir, epoch, `racer ${i}`)));
      expect(results.filter((r) => r === 'won')).toHaveLength(1);
      expect(results.filter((r) => r === 'lost')).toHaveLength(23);
    }
    expect((await readdir(join(dir, 'claims'))).sort()).toEqual(['epoch-1', 'epoch-2', 'epoch-3']);
  });

  it('a later claimer of a taken epoch loses, the winner of the next one wins', async () => {
    expect(await claimEpoch(dir, 1, 'first')).toBe('won');
    expect(await claimEpoch(dir, 1, 'second')).toBe('lost');
    expect(await claimEpoch(dir, 2, 'second')).toBe('won');
  });

  it('the claim file records the owner and where its logging channel listens', async () => {
    await claimEpoch(dir, 4, 'primary pid 1', '127.0.0.1:7001');
    const { epoch, record } = await currentClaim(dir);
    expect(epoch).toBe(4);
    expect(record).toMatchObject({ nodeId: NODE_ID, who: 'primary pid 1', pid: process.pid, logListen: '127.0.0.1:7001' });
    expect(typeof record?.atMs).toBe('number');
  });
});

describe('currentClaim / currentEpoch', () => {
  it('says -1 and no record for a fresh directory', async () => {
    expect(await currentEpoch(dir)).toBe(-1);
    expect(await currentClaim(dir)).toEqual({ epoch: -1, record: undefined });
  });

  it('the highest epoch wins, whatever else lies in claims/', async () => {
    await claimEpoch(dir, 2, 'a');
    await claimEpoch(dir, 10, 'b');
    await claimEpoch(dir, 9, 'c');
    await writeFile(join(dir, 'claims', 'epoch-11.tmp-123'), '{}');
    await writeFile(join(dir, 'claims', 'notes'), 'x');
    expect(await currentEpoch(dir)).toBe(10);
    expect((await currentClaim(dir)).record?.who).toBe('b');
  });

  it('an unreadable or half-written claim gives no record (the caller treats the owner as alive)', async () => {
    await mkdir(join(dir, 'claims'), { recursive: true });
    await writeFile(join(dir, 'claims', 'epoch-3'), '{"nodeId": "ab');
    expect(await currentClaim(dir)).toEqual({ epoch: 3, record: undefined });
    await writeFile(join(dir, 'claims', 'epoch-3'), '');
    expect(await currentClaim(dir)).toEqual({ epoch: 3, record: undefined });
  });
});

describe('updateOwnClaim', () => {
  it('the owner adds where it listens and that it stopped, keeping the rest', async () => {
    await claimEpoch(dir, 1, 'primary');
    const before = (await currentClaim(dir)).record;
    await updateOwnClaim(dir, 1, { logListen: '127.0.0.1:9000' });
    await updateOwnClaim(dir, 1, { releasedAtMs: 1234 });
    const after = (await currentClaim(dir)).record;
    expect(after).toEqual({ ...before, logListen: '127.0.0.1:9000', releasedAtMs: 1234 });
    // Replaced by rename: no temp file is left behind.
    expect(await readdir(join(dir, 'claims'))).toEqual(['epoch-1']);
  });

  it("never touches another node's claim", async () => {
    await mkdir(join(dir, 'claims'), { recursive: true });
    const theirs = JSON.stringify({ nodeId: 'someone-else', who: 'other', pid: 1, host: 'h', atMs: 1 }) + '\n';
    await writeFile(join(dir, 'claims', 'epoch-1'), theirs);
    await updateOwnClaim(dir, 1, { releasedAtMs: 99 });
    expect(await readFile(join(dir, 'claims', 'epoch-1'), 'utf8')).toBe(theirs);
  });
});

describe('unreachable shared storage', () => {
  it('is a SharedStorageError (exit code 11) saying what to check, for claim, read and update', async () => {
    // A regular file where the shared directory should be: nothing under it can be made.
    const notADir = join(dir, 'not-a-dir');
    await writeFile(notADir, '');
    for (const action of [() => claimEpoch(notADir, 1, 'x'), () => currentEpoch(notADir), () => currentClaim(notADir), () => updateOwnClaim(notADir, 1, { releasedAtMs: 1 })]) {
      const error = await storageError(action);
      expect(error.code).toBe('LOCKSTEP_SHARED_STORAGE');
      expect(error.exitCode).toBe(11);
      expect(error.message).toContain('ENOTDIR');
      expect(error.message).toContain('shared directory');
    }
  });
});
