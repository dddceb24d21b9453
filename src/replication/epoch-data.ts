// Storage fencing: each epoch's owner writes guest files only into its own directory,
// <dir>/epochs/<N>, made at the moment it takes the epoch as a hard-link copy of the previous
// owner's (guest writes replace files by rename, never in place, so sharing inodes is safe).
// A deposed owner that resumes (SIGSTOP, a long GC, a VM freeze) can only write into its old
// directory, which nobody reads any more: it cannot roll back a file of the new owner.
// <dir>/data is a symlink to the current epoch's directory, for people and tools.
import { link, lstat, mkdir, readdir, readlink, realpath, rename, rm, symlink } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { dataDirOf, HOST_JOURNAL_FILE, HOST_TEMP_DIR, recoverJournal } from '../host/data-dir.js';
import { syncDirectory, syncMadeDirectories } from '../host/sync-dir.js';
import { SharedStorageError } from './errors.js';

/** Old epoch directories kept besides the current one (for people to look at); older ones are removed. */
export const EPOCH_DIRS_KEPT = 2;

function epochsDir(dir: string): string {
  return join(dir, 'epochs');
}

export function epochDataDir(dir: string, epoch: number): string {
  return join(epochsDir(dir), String(epoch));
}

/** Where the current guest files are: the target of <dir>/data, or <dir>/data itself (a `lockstep run` dir). */
async function currentDataDir(dir: string): Promise<string | undefined> {
  try {
    return await realpath(dataDirOf(dir));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/**
 * Hard-links every file of `from` into `to` (same tree), skipping the host's temp files of writes in
 * flight (their own directory, HOST_TEMP_DIR, which no guest path can name) and the write journal
 * (recovered into the files just before: the new owner starts its own).
 */
async function linkTree(from: string, to: string, skip: readonly string[] = [join(from, HOST_TEMP_DIR), join(from, HOST_JOURNAL_FILE)]): Promise<void> {
  await syncMadeDirectories(to, await mkdir(to, { recursive: true }));
  for (const entry of await readdir(from, { withFileTypes: true })) {
    const source = join(from, entry.name);
    const target = join(to, entry.name);
    if (skip.includes(source)) continue;
    if (entry.isDirectory()) await linkTree(source, target, skip);
    else if (entry.isFile()) await link(source, target);
  }
  await syncDirectory(to); // the links made here
}

/**
 * Makes <dir>/epochs/<epoch> from the current guest files and points <dir>/data at it. Called by a
 * node right after it won the claim for `epoch`, before it performs any write. Returns the directory.
 */
export async function takeEpochData(dir: string, epoch: number): Promise<string> {
  const target = epochDataDir(dir, epoch);
  try {
    const source = await currentDataDir(dir);
    await rm(target, { recursive: true, force: true }); // a half-made copy of an earlier attempt
    if (source) {
      // Writes the previous owner completed may be only in its journal: into its files first.
      await recoverJournal(source);
      await linkTree(source, target);
    }
    else await syncMadeDirectories(target, await mkdir(target, { recursive: true }));
    await pointDataAt(dir, target);
    await removeOldEpochs(dir, epoch);
    return target;
  } catch (error) {
    if (error instanceof SharedStorageError) throw error;
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new SharedStorageError(`Cannot prepare the guest files of epoch ${epoch} in ${target}: ${code}. Check the shared directory; this node does not serve without it.`);
  }
}

/** <dir>/data -> epochs/<N>, replaced atomically (a real directory left by `lockstep run` is moved aside). */
export async function pointDataAt(dir: string, target: string): Promise<void> {
  const data = dataDirOf(dir);
  const info = await lstat(data).catch(() => undefined);
  if (info?.isDirectory()) await rename(data, join(epochsDir(dir), `before-pair-${Date.now()}`));
  const temp = `${data}.link-${process.pid}`;
  await rm(temp, { force: true });
  await symlink(relative(dir, target), temp);
  await rename(temp, data);
  await syncDirectory(dir); // the swap is durable: after a crash <dir>/data names this epoch, not the last
}

async function removeOldEpochs(dir: string, current: number): Promise<void> {
  const names = await readdir(epochsDir(dir));
  const old = names.filter((name) => /^\d+$/.test(name) && Number(name) < current - EPOCH_DIRS_KEPT);
  await Promise.all(old.map((name) => rm(join(epochsDir(dir), name), { recursive: true, force: true })));
}

/** For tests and tools: which epoch directory <dir>/data points at. */
export async function dataLinkTarget(dir: string): Promise<string | undefined> {
  return readlink(dataDirOf(dir)).catch(() => undefined);
}
