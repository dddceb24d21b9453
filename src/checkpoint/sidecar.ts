// Checkpoint files of a recorded log: `<log>.checkpoints/<seq>.ckpt`, each the state after entry
// #seq (the log holds a `checkpoint` entry with the same digest at #seq+1). Only the newest few are
// kept, so a long recording's checkpoints take bounded space.
import { mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const SEQ_DIGITS = 12;

export function checkpointDirOf(logPath: string): string {
  return `${logPath}.checkpoints`;
}

export function checkpointPathOf(logPath: string, seq: number): string {
  return join(checkpointDirOf(logPath), `${String(seq).padStart(SEQ_DIGITS, '0')}.ckpt`);
}

export interface CheckpointFile {
  seq: number;
  path: string;
  bytes: number;
}

/** The checkpoint files of `logPath`, oldest first; none if it has no checkpoint directory. */
export async function listCheckpointFiles(logPath: string): Promise<CheckpointFile[]> {
  const dir = checkpointDirOf(logPath);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const files: CheckpointFile[] = [];
  for (const name of names) {
    const match = /^(\d+)\.ckpt$/.exec(name);
    if (!match) continue;
    const path = join(dir, name);
    files.push({ seq: Number(match[1]), path, bytes: (await stat(path)).size });
  }
  return files.sort((a, b) => a.seq - b.seq);
}

/** The newest checkpoint at or before entry #seq, if any. */
export async function newestCheckpointUpTo(logPath: string, seq: number): Promise<CheckpointFile | undefined> {
  return (await listCheckpointFiles(logPath)).filter((file) => file.seq <= seq).at(-1);
}

/** Writes one checkpoint file and removes all but the newest `keptMax`. */
export async function writeCheckpointFile(logPath: string, seq: number, bytes: Uint8Array, keptMax: number): Promise<void> {
  await mkdir(checkpointDirOf(logPath), { recursive: true });
  const path = checkpointPathOf(logPath, seq);
  await writeFile(`${path}.tmp`, bytes);
  await rename(`${path}.tmp`, path); // never a half-written checkpoint under its final name
  const files = await listCheckpointFiles(logPath);
  for (const old of files.slice(0, Math.max(0, files.length - keptMax))) await rm(old.path, { force: true });
}

/** A new recording at `logPath` starts without the checkpoints of an older one there. */
export async function clearCheckpointFiles(logPath: string): Promise<void> {
  await rm(checkpointDirOf(logPath), { recursive: true, force: true });
}
