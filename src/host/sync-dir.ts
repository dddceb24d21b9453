// A directory's entries reach the disk only when the directory itself is fsynced: a file created,
// linked or renamed into it can vanish in a crash even after the file's own fsync. Everything the
// host makes durable by name (guest files, claims, epoch directories, the data link) ends here, and
// the small files it writes whole and fsyncs (claims, secrets, a replica's files) are written here too.
import { open } from 'node:fs/promises';
import { dirname } from 'node:path';

/** Writes `data` to `path` and fsyncs the file before it resolves ('wx': only if no such file exists yet). */
export async function writeFileSynced(path: string, data: string | Uint8Array, flag: 'w' | 'wx', mode: number): Promise<void> {
  const handle = await open(path, flag, mode);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** fsyncs a directory (its list of entries). */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * After `mkdir(dir, { recursive: true })` returned `firstCreated` (undefined: nothing was made):
 * fsyncs the parent of every directory it made, deepest first, so the new ones survive a crash.
 */
export async function syncMadeDirectories(dir: string, firstCreated: string | undefined): Promise<void> {
  if (firstCreated === undefined) return;
  for (let made = dir; ; made = dirname(made)) {
    await syncDirectory(dirname(made));
    if (made === firstCreated || dirname(made) === made) return;
  }
}
