// Arbitration and epoch ownership on shared storage, as VMware FT does on its datastore. Before a
// node serves (at start) or acts on a peer's failure, it must win an atomic test-and-set: the
// O_EXCL creation of claims/epoch-N in the shared directory. Exactly one side can create it; the
// other learns it lost. The claim records who owns the epoch and where its logging channel
// listens, so a node started later can find the owner and join it instead of serving beside it.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { mkdir, readdir, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { SharedStorageError } from './errors.js';
import type { Arbiter, ClaimChange, ClaimOptions } from './arbiter.js';
import { syncDirectory, syncMadeDirectories, writeFileSynced } from '../host/sync-dir.js';

export type ClaimResult = 'won' | 'lost';

/** What a claim file says about the node that owns an epoch. */
export interface ClaimRecord {
  /** Random per process: tells a restarted node from its previous incarnation. */
  nodeId: string;
  who: string;
  pid: number;
  host: string;
  atMs: number;
  /** host:port of the owner's logging channel, once it listens (a fresh secondary connects there). */
  logListen?: string;
  /** Set by a planned stop: the epoch has no live owner any more, a new node may claim the next one. */
  releasedAtMs?: number;
  /** The etcd arbiter only: the epoch's fencing token (the revision of the claim's transaction); not stored, read from etcd. */
  revision?: number;
  /** The etcd arbiter only: the owner's node name (persistent in its --dir). */
  node?: string;
}

export interface CurrentClaim {
  epoch: number;
  /** Undefined when the file is being written or unreadable (treat the owner as alive), or the claim lapsed. */
  record: ClaimRecord | undefined;
  /** The etcd arbiter only: the claim expired with its owner's lease (the owner has stopped releasing). */
  lapsed?: boolean;
}

/** This process's identity in claim files. */
export const NODE_ID = randomBytes(8).toString('hex');

function claimsDir(dir: string): string {
  return join(dir, 'claims');
}

function claimPath(dir: string, epoch: number): string {
  return join(claimsDir(dir), `epoch-${epoch}`);
}

function storageError(action: string, path: string, error: unknown): SharedStorageError {
  const code = (error as NodeJS.ErrnoException).code ?? String(error);
  return new SharedStorageError(`Cannot ${action} ${path}: ${code}. Check that the shared directory is mounted and writable; without it this node may not serve.`);
}

/** The highest epoch anyone has claimed in this directory (-1 if none). */
export async function currentEpoch(dir: string): Promise<number> {
  try {
    await mkdir(claimsDir(dir), { recursive: true });
    const names = await readdir(claimsDir(dir));
    return names.reduce((max, name) => {
      const match = /^epoch-(\d+)$/.exec(name);
      return match ? Math.max(max, Number(match[1])) : max;
    }, -1);
  } catch (error) {
    throw storageError('read the claims in', claimsDir(dir), error);
  }
}

/** The current epoch and what its claim file says. */
export async function currentClaim(dir: string): Promise<CurrentClaim> {
  const epoch = await currentEpoch(dir);
  if (epoch < 0) return { epoch, record: undefined };
  return { epoch, record: await readClaim(dir, epoch) };
}

async function readClaim(dir: string, epoch: number): Promise<ClaimRecord | undefined> {
  try {
    const record = JSON.parse(await readFile(claimPath(dir, epoch), 'utf8')) as ClaimRecord;
    return typeof record === 'object' && record !== null && typeof record.nodeId === 'string' ? record : undefined;
  } catch {
    return undefined; // being written right now, or damaged: the caller treats the owner as alive
  }
}

/** What this process writes into a claim it makes (`node`: its name in the etcd arbiter). */
export function newRecord(who: string, logListen: string | undefined, node?: string): ClaimRecord {
  return { nodeId: NODE_ID, who, pid: process.pid, host: hostname(), atMs: Date.now(), logListen, ...(node === undefined ? {} : { node }) };
}

/** Tries to claim `epoch`. Throws SharedStorageError if the shared directory cannot be reached. */
export async function claimEpoch(dir: string, epoch: number, who: string, logListen?: string): Promise<ClaimResult> {
  const path = claimPath(dir, epoch);
  try {
    await syncMadeDirectories(claimsDir(dir), await mkdir(claimsDir(dir), { recursive: true }));
  } catch (error) {
    throw storageError('create the claims directory', claimsDir(dir), error);
  }
  try {
    await writeFileSynced(path, JSON.stringify(newRecord(who, logListen)) + '\n', 'wx', 0o644);
    // The claim exists only once its name is on disk: a crash must not give the epoch to the loser too.
    await syncDirectory(claimsDir(dir));
    return 'won';
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return 'lost';
    throw storageError('claim', path, error);
  }
}

/** The owner updates its own claim (where it listens, or that it stopped on purpose). Atomic by rename. */
export async function updateOwnClaim(dir: string, epoch: number, change: ClaimChange): Promise<void> {
  const path = claimPath(dir, epoch);
  const record = (await readClaim(dir, epoch)) ?? newRecord('unknown', undefined);
  if (record.nodeId !== NODE_ID) return; // not ours (cannot happen for a node that won it): never touch another's claim
  const temp = `${path}.tmp-${process.pid}`;
  try {
    await writeFileSynced(temp, JSON.stringify({ ...record, ...change }) + '\n', 'w', 0o644);
    await rename(temp, path);
    await syncDirectory(claimsDir(dir));
  } catch (error) {
    throw storageError('update the claim', path, error);
  }
}

/** The default arbiter: claims are files in the shared directory (one host, or a shared mount). */
export class FileArbiter implements Arbiter {
  readonly kind = 'file';
  constructor(readonly dir: string) {}

  /** Everyone sharing the directory is trusted alike: membership is not checked. */
  claim(epoch: number, who: string, logListen?: string, _options?: ClaimOptions): Promise<ClaimResult> {
    return claimEpoch(this.dir, epoch, who, logListen);
  }

  current(): Promise<CurrentClaim> {
    return currentClaim(this.dir);
  }

  update(epoch: number, change: ClaimChange): Promise<void> {
    return updateOwnClaim(this.dir, epoch, change);
  }

  describe(): Record<string, unknown> {
    return { kind: this.kind, dir: this.dir };
  }

  /** Epochs are numbered in one directory: the epoch is its own token. */
  tokenOf(epoch: number): number {
    return epoch;
  }

  async declareMember(): Promise<void> {}

  async wasPrimaryOf(): Promise<boolean> {
    return false; // a claim file never lapses
  }

  releasableUntilMs(): number {
    return Infinity;
  }

  onEpochLost(): void {} // a claim file never lapses

  async start(): Promise<void> {}

  close(): void {}
}
