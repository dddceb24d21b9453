// The guest's files live in <dir>/data. Guest paths arrive normalized by the prelude (no '..');
// here the host also refuses symlinks that lead outside, and bounds file sizes.
import { mkdir, open, readFile, realpath, rename, stat } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';

/** Files larger than this are refused to the guest (it would blow its memory limit anyway). */
export const FILE_BYTES_MAX = 8 * 1024 * 1024;

export function dataDirOf(dir: string): string {
  return join(dir, 'data');
}

async function confined(dataDir: string, guestPath: string): Promise<string> {
  const root = await realpath(dataDir);
  const target = join(root, guestPath);
  // The deepest existing ancestor must resolve inside the root (a symlink could point anywhere).
  let probe = target;
  for (;;) {
    try {
      const real = await realpath(probe);
      const rel = relative(root, real);
      if (rel.startsWith('..') || rel.startsWith(sep)) throw new Error(`EACCES: path escapes the data directory: ${guestPath}`);
      return target;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      const parent = dirname(probe);
      if (parent === probe) return target;
      probe = parent;
    }
  }
}

/** Reads a guest file. Errors are short and stable (they go into the log and to the guest). */
export async function readGuestFile(dataDir: string, guestPath: string, bytesMax = FILE_BYTES_MAX): Promise<string> {
  const path = await confined(dataDir, guestPath);
  const info = await stat(path).catch((error) => {
    throw new Error(`${(error as NodeJS.ErrnoException).code ?? 'EIO'}: cannot read ${guestPath}`);
  });
  if (!info.isFile()) throw new Error(`EISDIR: ${guestPath} is not a file`);
  if (info.size > bytesMax) throw new Error(`EFBIG: ${guestPath} is ${info.size} bytes, more than the ${bytesMax} allowed`);
  return readFile(path, 'utf8');
}

/** Writes in flight per target file: a later write to a file starts only after the earlier one finished. */
const writesInFlight = new Map<string, Promise<void>>();
/** Distinguishes the temp files of concurrent writes (a shared temp name let two writes clobber each other). */
let tempSeq = 0;

/**
 * Writes a guest file atomically (temp file + rename), so a crash mid-write leaves the old or the new
 * content. Writes to one file complete in the order they were issued, so the file ends with the last.
 */
export function writeGuestFile(dataDir: string, guestPath: string, data: string, bytesMax = FILE_BYTES_MAX): Promise<void> {
  const key = join(dataDir, guestPath);
  const previous = writesInFlight.get(key) ?? Promise.resolve();
  const mine = previous.then(
    () => writeNow(dataDir, guestPath, data, bytesMax),
    () => writeNow(dataDir, guestPath, data, bytesMax),
  );
  writesInFlight.set(key, mine);
  const forget = () => {
    if (writesInFlight.get(key) === mine) writesInFlight.delete(key);
  };
  mine.then(forget, forget);
  return mine;
}

async function writeNow(dataDir: string, guestPath: string, data: string, bytesMax: number): Promise<void> {
  if (Buffer.byteLength(data) > bytesMax) throw new Error(`EFBIG: writing ${guestPath} would exceed the ${bytesMax} bytes allowed`);
  const path = await confined(dataDir, guestPath);
  await mkdir(dirname(path), { recursive: true });
  const temp = `${path}.lockstep-tmp-${process.pid}-${++tempSeq}`;
  const handle = await open(temp, 'w', 0o644);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, path);
}
