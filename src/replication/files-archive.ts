// The guest's files as one archive, for a secondary that keeps its own replica of them (two hosts,
// nothing shared on disk): the primary packs its data directory when a fresh secondary attaches and
// streams it after the checkpoint; the secondary checks its digest and unpacks it into its replica.
// The archive is [[guest path, bytes], ...] in msgpack. The host's temp files of writes in flight
// are never packed (a write whose completion is not logged yet is re-issued or replayed anyway), nor
// its write journal: the files are brought up to date from it first.
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Packr } from 'msgpackr';
import { HOST_JOURNAL_FILE, HOST_TEMP_DIR, recoverJournal } from '../host/data-dir.js';
import { pathProblem } from '../sandbox/effects.js';
import { ReplicaError } from './errors.js';

/** Default bound on the guest's files sent to a fresh secondary (held in memory on both sides while in transit). */
export const REPLICA_FILES_BYTES_MAX_DEFAULT = 256 * 1024 * 1024;

export type FileEntry = [path: string, data: Uint8Array];

const packr = new Packr({ useRecords: false });

export function filesDigest(archive: Uint8Array): Buffer {
  return createHash('sha256').update(archive).digest();
}

/** Packs every file under `dataDir` (its guest paths, sorted). Throws ReplicaError past `bytesMax`. */
export async function packDataDir(dataDir: string, bytesMax: number): Promise<Uint8Array> {
  // Writes whose completion is logged may still be only in the write journal: into their files first.
  await recoverJournal(dataDir);
  const files: FileEntry[] = [];
  let bytes = 0;
  for (const path of await listFiles(dataDir, '')) {
    const data = await readFile(join(dataDir, path)).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined; // replaced between the listing and the read: its write is logged
      throw error;
    });
    if (!data) continue;
    bytes += data.length + path.length;
    if (bytes > bytesMax) throw new ReplicaError(`the guest's files take more than ${bytesMax} bytes, the bound on what a fresh secondary is sent; raise --replica-bytes-max on both nodes`);
    files.push([path, data]);
  }
  return packr.pack(files);
}

async function listFiles(root: string, under: string): Promise<string[]> {
  const entries = await readdir(join(root, under), { withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [];
    throw error;
  });
  const paths: string[] = [];
  for (const entry of entries) {
    const path = under ? `${under}/${entry.name}` : entry.name;
    if (path === HOST_TEMP_DIR || path === HOST_JOURNAL_FILE) continue; // in flight, or this node's own journal
    if (entry.isDirectory()) paths.push(...(await listFiles(root, path)));
    else if (entry.isFile()) paths.push(path);
  }
  return paths.sort();
}

/** Unpacks an archive whose digest was checked; every path must be a guest path (the archive crossed the network). */
export function unpackFiles(archive: Uint8Array): FileEntry[] {
  let value: unknown;
  try {
    value = packr.unpack(archive);
  } catch {
    throw new ReplicaError('the guest files received are not an archive');
  }
  if (!Array.isArray(value)) throw new ReplicaError('the guest files received are not a list');
  return value.map((item: unknown) => {
    const ok = Array.isArray(item) && item.length === 2 && typeof item[0] === 'string' && item[1] instanceof Uint8Array;
    const problem = ok ? pathProblem(item[0]) : 'not a (path, bytes) pair';
    if (problem) throw new ReplicaError(`a guest file received is refused: ${problem}`);
    return item as FileEntry;
  });
}
