// Arbitration on shared storage, as VMware FT does on its datastore: before acting on a peer's
// failure a side must win an atomic test-and-set, here the O_EXCL creation of claims/epoch-N in
// the shared directory. Exactly one side can create it; the other learns it lost.
import { mkdir, open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { SharedStorageError } from './errors.js';

export type ClaimResult = 'won' | 'lost';

function claimsDir(dir: string): string {
  return join(dir, 'claims');
}

/** The highest epoch anyone has claimed in this directory (0 if none): a new pair starts from it. */
export async function currentEpoch(dir: string): Promise<number> {
  try {
    await mkdir(claimsDir(dir), { recursive: true });
    const names = await readdir(claimsDir(dir));
    return names.reduce((max, name) => {
      const match = /^epoch-(\d+)$/.exec(name);
      return match ? Math.max(max, Number(match[1])) : max;
    }, 0);
  } catch (error) {
    throw new SharedStorageError(`Cannot read the claims in ${claimsDir(dir)}: ${(error as NodeJS.ErrnoException).code ?? error}. Check that the shared directory is mounted and writable.`);
  }
}

/** Tries to claim `epoch`. Throws SharedStorageError if the shared directory cannot be reached. */
export async function claimEpoch(dir: string, epoch: number, who: string): Promise<ClaimResult> {
  const path = join(claimsDir(dir), `epoch-${epoch}`);
  try {
    const handle = await open(path, 'wx', 0o644);
    try {
      await handle.writeFile(JSON.stringify({ who, pid: process.pid, atMs: Date.now() }) + '\n');
      await handle.sync();
    } finally {
      await handle.close();
    }
    return 'won';
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return 'lost';
    throw new SharedStorageError(`Cannot claim ${path}: ${(error as NodeJS.ErrnoException).code ?? error}. Without the shared directory this side may not go on; it stops.`);
  }
}
