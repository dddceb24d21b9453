// A secondary's own copy of the guest's files, for a pair with nothing shared on disk (the etcd
// arbiter, each node its own --dir). It starts from the files the primary sent with the state the
// secondary starts from, and then performs every write the log says completed, in log order, with
// the same code the primary used (writeGuestFile), so at go-live it holds every write whose
// completion was logged; writes still pending are re-issued by go-live, as on a shared directory.
// It lives in <dir>/replica, and <dir>/data points at it, so going live takes it as the new epoch's
// files exactly as a shared directory's are taken (epoch-data.ts).
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { syncDirectory, writeFileSynced } from '../host/sync-dir.js';
import { dirname, join } from 'node:path';
import { closeJournal, HOST_TEMP_DIR, writeGuestFile } from '../host/data-dir.js';
import type { PendingWrite } from '../engine/executor.js';
import { pointDataAt } from './epoch-data.js';
import { ReplicaError } from './errors.js';
import type { FileEntry } from './files-archive.js';

export class FileReplica {
  /** Whether this replica can follow on from where the secondary's log is, or needs the files given whole. */
  state: 'need' | 'have' = 'need';
  /** Resolves when the newest set of files given is in place; writes wait for it. */
  private installed: Promise<void> = Promise.resolve();
  private readonly outstanding = new Set<Promise<void>>();
  private failure: ReplicaError | undefined;
  writesApplied = 0;

  constructor(private readonly dir: string) {}

  get dataDir(): string {
    return join(this.dir, 'replica');
  }

  /** Everything held so far is void (a fresh start): the next attach must bring the files whole. */
  invalidate(): void {
    this.state = 'need';
  }

  /** Replaces the replica by `files`, after every write already issued to the old one. */
  install(files: FileEntry[]): void {
    this.state = 'have';
    this.failure = undefined;
    const previous = this.settled();
    this.installed = this.track(previous.then(() => this.replaceWith(files)), 'cannot install the files received');
  }

  /** A write the log says completed on the primary: the same write here, after everything before it. */
  apply(write: PendingWrite): void {
    this.track(this.installed.then(() => writeGuestFile(this.dataDir, write.path, write.data)), `cannot write ${write.path}`);
    this.writesApplied++;
  }

  /** Waits for every write issued so far; throws ReplicaError if any failed (this copy is not the primary's). */
  async flush(): Promise<void> {
    await this.settled();
    if (this.state !== 'have') throw new ReplicaError('this secondary never received the guest\'s files from the primary');
    if (this.failure) throw this.failure;
    await closeJournal(this.dataDir); // every journaled write into its file, durably: the epoch's copy links the files
  }

  status(): Record<string, unknown> {
    return { replica: { dir: this.dataDir, state: this.failure ? 'failed' : this.state, writesApplied: this.writesApplied, writesPending: this.outstanding.size } };
  }

  private async settled(): Promise<void> {
    while (this.outstanding.size > 0) await Promise.allSettled([...this.outstanding]);
  }

  private track(work: Promise<void>, what: string): Promise<void> {
    const tracked = work.catch((error: unknown) => {
      const why = (error as NodeJS.ErrnoException).code ?? (error instanceof Error ? error.message : String(error));
      this.failure ??= new ReplicaError(`The secondary's copy of the guest's files in ${this.dataDir}: ${what} (${why}). It cannot take over with them; free the disk (or remove what is in the way) and restart it.`);
    });
    this.outstanding.add(tracked);
    void tracked.finally(() => this.outstanding.delete(tracked));
    return tracked;
  }

  /** Writes the files into a fresh directory, swaps it in, and points <dir>/data at it. */
  private async replaceWith(files: FileEntry[]): Promise<void> {
    const fresh = `${this.dataDir}.new`;
    await rm(fresh, { recursive: true, force: true });
    await mkdir(fresh, { recursive: true });
    for (const [path, data] of files) {
      const target = join(fresh, path);
      await mkdir(dirname(target), { recursive: true });
      await writeFileSynced(target, data, 'w', 0o644); // the state it may go live with: on disk before it counts
    }
    // The host's temp directory exists in every data directory it writes to (a committer makes it
    // once per path, so a replica replaced under it must come with one).
    await mkdir(join(fresh, HOST_TEMP_DIR), { recursive: true });
    await syncTree(fresh);
    await closeJournal(this.dataDir); // the old replica's journal goes with it
    await rm(this.dataDir, { recursive: true, force: true });
    await rename(fresh, this.dataDir);
    await pointDataAt(this.dir, this.dataDir); // fsyncs <dir>, where the rename happened too
  }
}

async function syncTree(dir: string): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) if (entry.isDirectory()) await syncTree(join(dir, entry.name));
  await syncDirectory(dir);
}
