// Storage fencing in process: each epoch's owner gets its own directory, a hard-link copy of the
// previous epoch's files (writes in flight left out), and <dir>/data points at it; a deposed owner
// writing into its old directory cannot change the new owner's files.
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { closeJournal, dataDirOf, HOST_DIR, HOST_TEMP_DIR, writeGuestFile } from '../../src/host/data-dir.js';
import { dataLinkTarget, EPOCH_DIRS_KEPT, epochDataDir, takeEpochData } from '../../src/replication/epoch-data.js';
import { SharedStorageError } from '../../src/replication/errors.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lockstep-epoch-data-'));
});
afterEach(async () => {
  // A journal places its files behind the writes (host/write-journal.ts): closed first, it cannot write into what is being removed.
  for (const data of [dataDirOf(dir), ...[0, 1, 2, 3, 4, 5].map((epoch) => epochDataDir(dir, epoch))]) await closeJournal(data);
  await rm(dir, { recursive: true, force: true });
});

const read = (path: string) => readFile(path, 'utf8');

describe('takeEpochData', () => {
  it('on a fresh directory makes an empty epochs/<N> and points data at it', async () => {
    const taken = await takeEpochData(dir, 1);
    expect(taken).toBe(epochDataDir(dir, 1));
    expect(await readdir(taken)).toEqual([]);
    expect(await dataLinkTarget(dir)).toBe(join('epochs', '1'));
    expect((await lstat(dataDirOf(dir))).isSymbolicLink()).toBe(true);
  });

  it("hard-links the previous epoch's files (nested too) and leaves writes in flight out", async () => {
    const one = await takeEpochData(dir, 1);
    await writeGuestFile(dataDirOf(dir), 'a.txt', 'alpha');
    await writeGuestFile(dataDirOf(dir), 'sub/deeper/b.txt', 'beta');
    await mkdir(join(one, HOST_TEMP_DIR), { recursive: true });
    await writeFile(join(one, HOST_TEMP_DIR, '123-4'), 'half a write');
    await writeFile(join(one, 'd.txt.lockstep-tmp-123-4'), 'a guest file with the old temp mark in its name');

    const two = await takeEpochData(dir, 2);
    expect(await dataLinkTarget(dir)).toBe(join('epochs', '2'));
    expect(await read(join(two, 'a.txt'))).toBe('alpha');
    expect(await read(join(two, 'sub/deeper/b.txt'))).toBe('beta');
    expect((await stat(join(two, 'a.txt'))).ino).toBe((await stat(join(one, 'a.txt'))).ino);
    // The temp file of a write in flight is not carried over; every guest file is, whatever its name.
    expect((await readdir(two)).sort()).toEqual(['.lockstep', 'a.txt', 'd.txt.lockstep-tmp-123-4', 'sub']);
    expect(await readdir(join(two, '.lockstep'))).toEqual([]);
    // Through the data link, the guest sees the new epoch's files.
    expect(await read(join(dataDirOf(dir), 'a.txt'))).toBe('alpha');
  });

  it("a deposed owner's write into the old epoch directory does not change the new owner's file", async () => {
    const one = await takeEpochData(dir, 1);
    await writeGuestFile(one, 'balance', '100');
    const two = await takeEpochData(dir, 2);
    // The old owner resumes (SIGSTOP, GC pause) and completes a write it had started: into epochs/1.
    await writeGuestFile(one, 'balance', '0');
    await writeGuestFile(one, 'new-file', 'stale');
    await closeJournal(one); // its files brought up to date from its write journal (a clean stop)
    expect(await read(join(one, 'balance'))).toBe('0');
    expect(await read(join(two, 'balance'))).toBe('100');
    expect(await read(join(dataDirOf(dir), 'balance'))).toBe('100');
    expect((await readdir(two)).filter((n) => n !== HOST_DIR)).toEqual(['balance']); // the host's own directory is carried, its temp files not
    // And the new owner's writes do not reach back into the old epoch.
    await writeGuestFile(two, 'balance', '150');
    expect(await read(join(one, 'balance'))).toBe('0');
  });

  it('moves aside a real data directory left by `lockstep run`, carrying its files over', async () => {
    await mkdir(dataDirOf(dir));
    await writeFile(join(dataDirOf(dir), 'notes.txt'), 'from run');
    const one = await takeEpochData(dir, 1);
    expect((await lstat(dataDirOf(dir))).isSymbolicLink()).toBe(true);
    expect(await read(join(one, 'notes.txt'))).toBe('from run');
    const aside = (await readdir(join(dir, 'epochs'))).filter((name) => name.startsWith('before-pair-'));
    expect(aside).toHaveLength(1);
    expect(await read(join(dir, 'epochs', aside[0], 'notes.txt'))).toBe('from run');
  });

  it('taking an epoch again replaces a half-made copy of an earlier attempt', async () => {
    await takeEpochData(dir, 1);
    await writeGuestFile(dataDirOf(dir), 'x', '1');
    await mkdir(epochDataDir(dir, 2), { recursive: true });
    await writeFile(join(epochDataDir(dir, 2), 'leftover'), 'junk');
    const two = await takeEpochData(dir, 2);
    expect((await readdir(two)).filter((n) => n !== HOST_DIR)).toEqual(['x']);
  });

  it(`keeps EPOCH_DIRS_KEPT (${EPOCH_DIRS_KEPT}) old epoch directories and removes older ones`, async () => {
    for (let epoch = 1; epoch <= 6; epoch++) await takeEpochData(dir, epoch);
    const numbered = (await readdir(join(dir, 'epochs'))).filter((name) => /^\d+$/.test(name)).map(Number);
    const kept = Array.from({ length: EPOCH_DIRS_KEPT + 1 }, (_, i) => 6 - EPOCH_DIRS_KEPT + i);
    expect(numbered.sort((a, b) => a - b)).toEqual(kept);
  });

  it('a directory it cannot prepare is a SharedStorageError (exit code 11)', async () => {
    const notADir = join(dir, 'file');
    await writeFile(notADir, '');
    const error = await takeEpochData(notADir, 1).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(SharedStorageError);
    expect((error as SharedStorageError).exitCode).toBe(11);
    expect((error as SharedStorageError).message).toContain('epoch 1');
  });
});

describe('dataLinkTarget', () => {
  it('is undefined when data is not a link', async () => {
    expect(await dataLinkTarget(dir)).toBeUndefined();
    await mkdir(dataDirOf(dir));
    expect(await dataLinkTarget(dir)).toBeUndefined();
  });
});
