// The guest's files live in <dir>/data. Guest paths arrive normalized by the prelude (no '..');
// here the host also refuses symlinks that lead outside, and bounds file sizes.
import { mkdir, open, readFile, realpath, rename, stat, unlink } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { GroupCommitter, type CommitStore, type Prepared } from './group-commit.js';
import { syncDirectory } from './sync-dir.js';

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

/** Reads a guest file. Errors are short and stable (they go into the log and to the guest). */
export async function readGuestFile(dataDir: string, guestPath: string, bytesMax = FILE_BYTES_MAX): Promise<string> {
  const { path } = await confined(dataDir, guestPath);
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
class DataDirStore implements CommitStore {
  /** The data directory's real path, resolved once (it does not move while the node runs). */
  private root: string | undefined;
  private readonly tempDirMade: { done?: boolean } = {};

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

/** One committer per data directory (a process normally has one). */
const committers = new Map<string, GroupCommitter>();

/** The group committer of a data directory (its counters show how much was coalesced). */
export function committerOf(dataDir: string): GroupCommitter {
  let committer = committers.get(dataDir);
  if (!committer) committers.set(dataDir, (committer = new GroupCommitter(new DataDirStore(dataDir))));
  return committer;
}

/**
 * Writes a guest file atomically (temp file + rename), durably (file and directory fsync'd) before
 * it resolves. Writes complete in issue order, so the file ends with the last; writes queued behind
 * an in-flight write of the same file are coalesced, and files written together share a round.
 */
export function writeGuestFile(dataDir: string, guestPath: string, data: string, bytesMax = FILE_BYTES_MAX): Promise<void> {
  const refusal = Buffer.byteLength(data) > bytesMax ? new Error(`EFBIG: writing ${guestPath} would exceed the ${bytesMax} bytes allowed`) : undefined;
  return committerOf(dataDir).write(guestPath, data, refusal);
}
