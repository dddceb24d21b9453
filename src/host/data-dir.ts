// The guest's files live in <dir>/data. Guest paths arrive normalized by the prelude (no '..');
// here the host also refuses symlinks that lead outside, and bounds file sizes.
import { lstat, mkdir, open, readFile, realpath, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import type { Prepared } from './group-commit.js';
import { syncDirectory } from './sync-dir.js';
import { JOURNAL_BYTES_MAX_DEFAULT, recoverJournalFile, WriteJournal, type JournalFiles } from './write-journal.js';

/** Files larger than this are refused to the guest (it would blow its memory limit anyway). */
export const FILE_BYTES_MAX = 8 * 1024 * 1024;

/**
 * The host's own directory inside the guest's data directory: the prelude refuses every guest path
 * under it (src/sandbox/prelude.ts, STORAGE_DIR), so nothing the host keeps there can collide with a
 * guest's file. It holds env.storage's file and, in HOST_TEMP_DIR, the temp files of writes in flight.
 */
export const HOST_DIR = '.lockstep';
/** Temp files of writes in flight (renamed over their target when complete); never carried into a new epoch. */
export const HOST_TEMP_DIR = join(HOST_DIR, 'tmp');
/** The write-ahead journal of guest file writes (host/write-journal.ts); recovered, never copied, into a new epoch. */
export const HOST_JOURNAL_FILE = join(HOST_DIR, 'journal');

export function dataDirOf(dir: string): string {
  return join(dir, 'data');
}

/** The real path of a guest path, and its deepest ancestor (or itself) that exists. */
async function confined(dataDir: string, guestPath: string, realRoot?: string): Promise<{ path: string; existing: string }> {
  const root = realRoot ?? (await realpath(dataDir));
  const target = join(root, guestPath);
  // The deepest existing ancestor must resolve inside the root (a symlink could point anywhere).
  let probe = target;
  for (;;) {
    try {
      const real = await realpath(probe);
      const rel = relative(root, real);
      if (rel.startsWith('..') || rel.startsWith(sep)) throw new Error(`EACCES: path escapes the data directory: ${guestPath}`);
      return { path: target, existing: probe };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      const parent = dirname(probe);
      if (parent === probe) return { path: target, existing: probe };
      probe = parent;
    }
  }
}

/** Reads a guest file (its newest data, which may still be only in the journal). Errors are short and stable (they go into the log and to the guest). */
export async function readGuestFile(dataDir: string, guestPath: string, bytesMax = FILE_BYTES_MAX): Promise<string> {
  const { path } = await confined(dataDir, guestPath);
  const journaled = await journals.get(dataDir)?.pending(guestPath);
  if (journaled !== undefined) {
    if (Buffer.byteLength(journaled) > bytesMax) throw new Error(`EFBIG: ${guestPath} is ${Buffer.byteLength(journaled)} bytes, more than the ${bytesMax} allowed`);
    return journaled;
  }
  const info = await stat(path).catch((error) => {
    throw new Error(`${(error as NodeJS.ErrnoException).code ?? 'EIO'}: cannot read ${guestPath}`);
  });
  if (!info.isFile()) throw new Error(`EISDIR: ${guestPath} is not a file`);
  if (info.size > bytesMax) throw new Error(`EFBIG: ${guestPath} is ${info.size} bytes, more than the ${bytesMax} allowed`);
  const text = await readFile(path, 'utf8');
  // The limit binds what reaches the log: each byte that is not UTF-8 becomes U+FFFD, three bytes
  // there, so a file within the limit on disk can decode to three times it (more than a log frame).
  const logged = Buffer.byteLength(text);
  if (logged > bytesMax) throw new Error(`EFBIG: ${guestPath} decodes to ${logged} bytes of UTF-8 (bytes that are not UTF-8 become U+FFFD, 3 bytes each), more than the ${bytesMax} allowed`);
  return text;
}

/** Distinguishes the temp files of writes in flight (a shared temp name let two writes clobber each other). */
let tempSeq = 0;

/** A fresh temp file path in the host's temp directory (created once per store). */
async function tempPath(root: string, made: { done?: boolean }): Promise<string> {
  const dir = join(root, HOST_TEMP_DIR);
  if (!made.done) {
    await mkdir(dir, { recursive: true });
    made.done = true;
  }
  return join(dir, `${process.pid}-${++tempSeq}`);
}

/** The real disk: temp file + fsync, rename, directory fsync. Paths are confined to the data directory. */
class DataDirStore implements JournalFiles {
  /** The data directory's real path, resolved once (it does not move while the node runs). */
  private root: string | undefined;
  private readonly tempDirMade: { done?: boolean } = {};
  /** Directories found to resolve inside the data directory (the guest cannot make symlinks or remove directories). */
  private readonly confinedDirs = new Set<string>();

  constructor(private readonly dataDir: string) {}

  async prepare(guestPath: string, data: string): Promise<Prepared> {
    this.root ??= await realpath(this.dataDir);
    const { path, existing } = await confined(this.dataDir, guestPath, this.root);
    // Each step to disk costs a thread-pool round trip: skip mkdir when the file or its directory exists.
    const directories = existing === path || existing === dirname(path) ? [dirname(path)] : await makeParents(dirname(path));
    const temp = await tempPath(this.root, this.tempDirMade);
    const handle = await open(temp, 'w', 0o644);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } catch (error) {
      await handle.close();
      await unlink(temp).catch(() => {});
      throw error;
    }
    await handle.close();
    return { file: path, temp, directories };
  }

  async check(guestPath: string): Promise<void> {
    this.root ??= await realpath(this.dataDir);
    if (this.confinedDirs.has(dirname(join(this.root, guestPath)))) {
      // A directory already resolved inside: one lstat tells a file (or none) from a directory; a symlink gets the whole check.
      const info = await lstat(join(this.root, guestPath)).catch((error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return undefined;
        throw error;
      });
      if (!info || info.isFile()) return;
      if (info.isDirectory()) throw new Error(`EISDIR: ${guestPath} is a directory`);
    }
    const { path, existing } = await confined(this.dataDir, guestPath, this.root);
    if (existing === path) {
      if ((await stat(path)).isDirectory()) throw new Error(`EISDIR: ${guestPath} is a directory`);
    } else if (existing !== dirname(path)) {
      await makeParents(dirname(path)); // fails (ENOTDIR, EEXIST) where the write would; made durable with the file at compaction
    }
    this.confinedDirs.add(dirname(path));
  }

  async place(guestPath: string, data: string): Promise<void> {
    this.root ??= await realpath(this.dataDir);
    const { path } = await confined(this.dataDir, guestPath, this.root);
    const temp = await tempPath(this.root, this.tempDirMade);
    try {
      await writeFile(temp, data);
      await rename(temp, path);
    } catch (error) {
      await unlink(temp).catch(() => {});
      throw error;
    }
  }

  async publish(prepared: Prepared): Promise<void> {
    await rename(prepared.temp, prepared.file).catch(async (error) => {
      await unlink(prepared.temp).catch(() => {});
      throw error;
    });
  }

  syncDirectory(dir: string): Promise<void> {
    return syncDirectory(dir);
  }
}

/** Creates `dir` if needed; returns the directories whose entries changed (to fsync): dir, and the parents of any it created. */
async function makeParents(dir: string): Promise<string[]> {
  const firstCreated = await mkdir(dir, { recursive: true });
  if (firstCreated === undefined) return [dir];
  const changed = [dir];
  for (let d = dir; d !== dirname(firstCreated); d = dirname(d)) changed.push(dirname(d));
  return [...new Set(changed)];
}

/** One journal per data directory (a process normally has one); its counters show rounds and compactions. */
const journals = new Map<string, WriteJournal>();

/** The write journal of a data directory, made (and its old contents recovered) on first use. */
export function journalOf(dataDir: string, journalBytesMax = JOURNAL_BYTES_MAX_DEFAULT): WriteJournal {
  let journal = journals.get(dataDir);
  if (!journal) journals.set(dataDir, (journal = new WriteJournal(new DataDirStore(dataDir), { path: join(dataDir, HOST_JOURNAL_FILE), journalBytesMax })));
  return journal;
}

/**
 * Brings a data directory's files up to date from its journal (durably) and empties it: at start,
 * and before its files are copied into a new epoch. Returns the number of records it held.
 */
export async function recoverJournal(dataDir: string): Promise<number> {
  const open = journals.get(dataDir);
  if (open) {
    await open.compactNow();
    return 0;
  }
  return (await recoverJournalFile(new DataDirStore(dataDir), join(dataDir, HOST_JOURNAL_FILE), 'apply')).records;
}

/** A clean stop: every journaled file made durable in place and the journal emptied. */
export async function closeJournal(dataDir: string): Promise<void> {
  const journal = journals.get(dataDir);
  if (!journal) return;
  journals.delete(dataDir);
  await journal.close();
}

/**
 * Writes a guest file durably before it resolves: a record in the data directory's write journal
 * (host/write-journal.ts), one append and one fdatasync for every write of the round; the file
 * itself is replaced whole (temp file + rename) behind it. Writes complete in issue order.
 */
export function writeGuestFile(dataDir: string, guestPath: string, data: string, bytesMax = FILE_BYTES_MAX, journalBytesMax = JOURNAL_BYTES_MAX_DEFAULT): Promise<void> {
  const refusal = Buffer.byteLength(data) > bytesMax ? new Error(`EFBIG: writing ${guestPath} would exceed the ${bytesMax} bytes allowed`) : undefined;
  return journalOf(dataDir, journalBytesMax).write(guestPath, data, refusal);
}
