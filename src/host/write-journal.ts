// A write-ahead journal for the guest's files (env.storage's file is one of them). The writes that
// become due while the previous round is being made durable, or in one loop turn when none is, are
// one round (group commit): each file's newest data is a record appended to
// <dataDir>/.lockstep/journal, and one fdatasync makes the whole round durable; only then do its
// writes complete. Files are brought up to date behind it: renamed into place (no fsync) in the
// background every JOURNAL_APPLY_INTERVAL_MS, so readers outside see them, and made durable at a compaction (the journal past half
// its bound, or idle, or a clean stop), after which the journal starts empty again. Recovery (at the
// first use in a process, at `lockstep run`'s start, and before an epoch's files are copied for the
// next owner) applies what the journal holds; a torn tail, from a crash in the middle of an append,
// is ignored: the fdatasync it ended in never returned, so none of its writes completed.
//
// What callers see does not change: a write completes in issue order, only once it is durable, and a
// write that fails (a path that is a directory, leads outside, a full disk) fails before anything of
// it is in the journal or in a file, so it leaves no trace.
import { constants } from 'node:fs';
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { assert } from '../assert.js';
import { crc32 } from '../log/crc32.js';
import { asError, commitFiles, type CommitStore } from './group-commit.js';
import { syncDirectory } from './sync-dir.js';

/**
 * Journal bytes at most. Past half of it the files are brought up to date and the journal emptied
 * (a compaction, which pauses writes for one temp-file round); a round that does not fit even in an
 * empty journal goes to its files directly, the old way. 64 MiB: several of the largest guest files.
 */
export const JOURNAL_BYTES_MAX_DEFAULT = 64 * 1024 * 1024;
/** With no write for this long, the journal is compacted (its files made durable, the journal emptied). */
export const JOURNAL_IDLE_COMPACT_MS = 1000;
/**
 * Files are renamed into place behind the journal at most this often (at once after a quiet spell). A temp file and a rename cost
 * about twice the CPU of the append and fdatasync (measured on this machine's ext4: 326 vs 150 us),
 * and the next fdatasync commits their metadata too: after every round they cost more than they saved.
 */
export const JOURNAL_APPLY_INTERVAL_MS = 50;

const HEADER_MAGIC = 0x4c534a48; // "LSJH"
const RECORD_MAGIC = 0x4c534a31; // "LSJ1"
/** The file's header: magic, format version, generation, CRC-32 of those 12 bytes. Records follow it. */
export const JOURNAL_HEADER_BYTES = 16;
const FORMAT_VERSION = 1;
/** A record's header: magic, body length, generation, CRC-32 of the body; the body is the path's length, the path, the data (UTF-8). */
const RECORD_HEADER_BYTES = 16;
/**
 * The file is grown in steps of this many bytes (zeros written once) and records overwrite it in
 * place, so an fdatasync after an append has no file size to commit (measured here: 257 us against
 * 460 us for an append that grows the file). A compaction starts a new generation instead of
 * truncating: records of an older one end the valid prefix. Past this size a compaction shrinks it back.
 */
export const JOURNAL_GROW_BYTES = 1024 * 1024;

/** The file and directory operations the journal needs besides its own file (the real data directory, or a test's). */
export interface JournalFiles extends CommitStore {
  /** Fails (as the write would) if `guestPath` cannot be written: outside the data directory, a directory, under a file. */
  check(guestPath: string): Promise<void>;
  /** Writes `data` to a temp file and renames it over the target, without fsync (the journal holds it). */
  place(guestPath: string, data: string): Promise<void>;
}

/** The header of an empty journal of `generation`. */
export function encodeHeader(generation: number): Buffer {
  const header = Buffer.alloc(JOURNAL_HEADER_BYTES);
  header.writeUInt32LE(HEADER_MAGIC, 0);
  header.writeUInt32LE(FORMAT_VERSION, 4);
  header.writeUInt32LE(generation >>> 0, 8);
  header.writeUInt32LE(crc32(header.subarray(0, 12)), 12);
  return header;
}

/** One record per write, in the order appended. */
export function encodeRecord(guestPath: string, data: string, generation: number): Buffer {
  const pathBytes = Buffer.byteLength(guestPath);
  const dataBytes = Buffer.byteLength(data);
  const record = Buffer.allocUnsafe(RECORD_HEADER_BYTES + 4 + pathBytes + dataBytes);
  record.writeUInt32LE(RECORD_MAGIC, 0);
  record.writeUInt32LE(4 + pathBytes + dataBytes, 4);
  record.writeUInt32LE(generation >>> 0, 8);
  record.writeUInt32LE(pathBytes, RECORD_HEADER_BYTES);
  record.write(guestPath, RECORD_HEADER_BYTES + 4, 'utf8');
  record.write(data, RECORD_HEADER_BYTES + 4 + pathBytes, 'utf8');
  record.writeUInt32LE(crc32(record.subarray(RECORD_HEADER_BYTES)), 12);
  return record;
}

/**
 * The records of a journal file's valid prefix: of the header's generation, whole and unchanged (a
 * torn or damaged record, zeros, or a record of an older generation end it). No valid header: none.
 */
export function decodeRecords(bytes: Uint8Array): { generation: number | undefined; records: Array<{ path: string; data: string }>; validBytes: number } {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const records: Array<{ path: string; data: string }> = [];
  if (buffer.length < JOURNAL_HEADER_BYTES || buffer.readUInt32LE(0) !== HEADER_MAGIC || buffer.readUInt32LE(4) !== FORMAT_VERSION || crc32(buffer.subarray(0, 12)) !== buffer.readUInt32LE(12)) {
    return { generation: undefined, records, validBytes: 0 };
  }
  const generation = buffer.readUInt32LE(8);
  let at = JOURNAL_HEADER_BYTES;
  while (at + RECORD_HEADER_BYTES + 4 <= buffer.length) {
    if (buffer.readUInt32LE(at) !== RECORD_MAGIC || buffer.readUInt32LE(at + 8) !== generation) break;
    const length = buffer.readUInt32LE(at + 4);
    const end = at + RECORD_HEADER_BYTES + length;
    if (length < 4 || end > buffer.length) break;
    const body = buffer.subarray(at + RECORD_HEADER_BYTES, end);
    if (crc32(body) !== buffer.readUInt32LE(at + 12)) break;
    const pathBytes = body.readUInt32LE(0);
    if (4 + pathBytes > length) break;
    records.push({ path: body.toString('utf8', 4, 4 + pathBytes), data: body.toString('utf8', 4 + pathBytes) });
    at = end;
  }
  return { generation, records, validBytes: at };
}

interface Waiter {
  path: string;
  data: string;
  /** Refused before any disk work (too large): reported in its turn, in no record. */
  refusal?: Error;
  resolve(): void;
  reject(error: Error): void;
}

export interface JournalOptions {
  /** The journal file (default <dataDir>/.lockstep/journal). */
  path: string;
  journalBytesMax?: number;
  idleCompactMs?: number;
}

export class WriteJournal {
  private handle: FileHandle | undefined;
  /** Where the next record goes (the header and the records of this generation come before it). */
  private size = JOURNAL_HEADER_BYTES;
  /** The file's length: zeros beyond `size`, or records of older generations. */
  private allocated = 0;
  private generation = 0;
  /** A round failed after writing some of its records: the next one starts a new generation first. */
  private tailSuspect = false;
  /** Every path written since the last compaction, with its newest data (what reads see). */
  private readonly journaled = new Map<string, { data: string; version: number }>();
  /** Paths whose newest data is not yet renamed into place, with that data's version. */
  private readonly unapplied = new Map<string, number>();
  private version = 0;
  private waiting: Waiter[] = [];
  private roundScheduled = false;
  /** The recovery and opening of the journal file (retried by the next round if it failed). */
  private opened: Promise<void>;
  /** Rounds and compactions run one at a time, in this chain. */
  private chain: Promise<void>;
  private applying: Promise<void> = Promise.resolve();
  private applyScheduled = false;
  private appliedAtMs = -Infinity;
  private idleTimer: NodeJS.Timeout | undefined;
  private closed = false;
  readonly bytesMax: number;
  private readonly idleCompactMs: number;
  /** For tests and figures. */
  rounds = 0;
  appends = 0;
  compactions = 0;
  directWrites = 0;
  sizeMax = 0;

  constructor(
    private readonly files: JournalFiles,
    private readonly options: JournalOptions,
  ) {
    this.bytesMax = options.journalBytesMax ?? JOURNAL_BYTES_MAX_DEFAULT;
    assert(this.bytesMax > JOURNAL_HEADER_BYTES, `journalBytesMax must be more than the journal's header (${JOURNAL_HEADER_BYTES} bytes)`);
    this.idleCompactMs = options.idleCompactMs ?? JOURNAL_IDLE_COMPACT_MS;
    this.opened = this.open();
    this.opened.catch(() => {}); // reported to the writes of the next round, which retries it
    this.chain = this.opened.catch(() => {});
  }

  /** Recovers what the journal holds (into the files, durably), then keeps it open, empty, in a new generation. */
  private async open(): Promise<void> {
    const { generation, allocated } = await recoverJournalFile(this.files, this.options.path);
    this.handle = await open(this.options.path, constants.O_RDWR);
    this.generation = generation;
    this.allocated = allocated;
    this.size = JOURNAL_HEADER_BYTES;
  }

  /** Queues a write of `data` to `guestPath`; resolves once it is durable (in the journal or its file). */
  write(guestPath: string, data: string, refusal?: Error): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.closed) return reject(new Error('EIO: the node is stopping; the write was not made'));
      this.waiting.push({ path: guestPath, data, refusal, resolve, reject });
      this.scheduleRound();
    });
  }

  /**
   * The next round takes every write waiting when it starts: after this turn's I/O, or, while a
   * round is being made durable, once that one is done (so writes that come in meanwhile share one
   * fdatasync rather than queueing one each). It stays scheduled until it starts.
   */
  private scheduleRound(): void {
    if (this.roundScheduled) return;
    this.roundScheduled = true;
    setImmediate(() => {
      void this.enqueue(() => {
        this.roundScheduled = false;
        const waiters = this.waiting;
        this.waiting = [];
        return waiters.length > 0 ? this.round(waiters) : Promise.resolve();
      });
    });
  }

  /** The newest data written to `guestPath` that its file may not hold yet (undefined: read the file). */
  async pending(guestPath: string): Promise<string | undefined> {
    // A journal that could not be opened (a full disk) holds nothing: the read goes to the file, as before the journal.
    await this.opened.catch(() => undefined);
    return this.journaled.get(guestPath)?.data;
  }

  /** Brings every file up to date durably and empties the journal (a clean stop); later writes fail. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.idleTimer);
    await this.enqueue(() => this.compact());
    await this.handle?.close();
    this.handle = undefined;
  }

  /** Brings every file up to date durably and empties the journal now (at a checkpoint, in tests). */
  compactNow(): Promise<void> {
    return this.enqueue(() => this.compact());
  }

  private enqueue(step: () => Promise<void>): Promise<void> {
    const run = this.chain.then(step, step);
    this.chain = run.catch(() => {});
    return run;
  }

  private async round(waiters: Waiter[]): Promise<void> {
    this.rounds++;
    if (!this.handle) {
      // The open (recovery) failed: try again; every write of the round fails if it fails again.
      try {
        await (this.opened = this.open());
      } catch (error) {
        for (const w of waiters) w.reject(asError(error));
        return;
      }
    }
    // The newest data per path; each path checked once (a failed check fails only its writes).
    const newest = new Map<string, string>();
    for (const w of waiters) if (!w.refusal) newest.set(w.path, w.data);
    const errors = new Map<string, Error>();
    await Promise.all([...newest.keys()].map((path) => this.files.check(path).catch((error) => errors.set(path, asError(error)))));
    const records = [...newest].filter(([path]) => !errors.has(path));
    let roundError: Error | undefined;
    try {
      await this.commit(records);
    } catch (error) {
      roundError = asError(error);
    }
    for (const w of waiters) {
      const error = w.refusal ?? errors.get(w.path) ?? roundError;
      if (error) w.reject(error);
      else w.resolve();
    }
    this.afterRound();
  }

  /** Makes `records` durable: one write and one fdatasync, or (too big for the journal) straight to the files. */
  private async commit(records: Array<[string, string]>): Promise<void> {
    if (records.length === 0) return;
    if (this.tailSuspect) await this.compact();
    const bytes = records.reduce((sum, [path, data]) => sum + RECORD_HEADER_BYTES + 4 + Buffer.byteLength(path) + Buffer.byteLength(data), 0);
    if (this.size + bytes > this.bytesMax) await this.compact();
    if (JOURNAL_HEADER_BYTES + bytes > this.bytesMax) {
      // Larger than the whole journal: durably to the files themselves (temp file, fsync, rename, directory fsync).
      this.directWrites++;
      return commitFiles(this.files, records);
    }
    const handle = this.handle!;
    const at = this.size;
    const buffers = records.map(([path, data]) => encodeRecord(path, data, this.generation));
    try {
      if (at + bytes > this.allocated) await this.grow(at + bytes);
      const buffer = buffers.length === 1 ? buffers[0]! : Buffer.concat(buffers, bytes);
      await writeFully(handle, buffer, at);
      await handle.datasync();
    } catch (error) {
      // Nothing of a failed round may count: its records are overwritten with zeros, and if that
      // fails too the next round starts a new generation (a compaction) before it appends.
      this.tailSuspect = true;
      await writeFully(handle, Buffer.alloc(bytes), at)
        .then(() => handle.datasync())
        .then(() => (this.tailSuspect = false))
        .catch(() => undefined);
      throw error;
    }
    this.appends++;
    this.size = at + bytes;
    this.sizeMax = Math.max(this.sizeMax, this.size);
    for (const [path, data] of records) {
      const version = ++this.version;
      this.journaled.set(path, { data, version });
      this.unapplied.set(path, version);
    }
  }

  /** Extends the file with zeros to hold `end` bytes (a step at a time, never past the bound). */
  private async grow(end: number): Promise<void> {
    const target = Math.min(this.bytesMax, Math.max(end, this.allocated + JOURNAL_GROW_BYTES));
    await writeFully(this.handle!, Buffer.alloc(target - this.allocated), this.allocated);
    this.allocated = target;
  }

  private afterRound(): void {
    if (this.size > this.bytesMax / 2) {
      void this.enqueue(() => this.compact()).catch(() => {}); // a failure shows again at the next round that needs room
      return;
    }
    if (this.unapplied.size > 0 && !this.applyScheduled) {
      // At once after a quiet spell (a boot's writes show on disk right away), then at most every interval.
      this.applyScheduled = true;
      const delayMs = Math.max(0, this.appliedAtMs + JOURNAL_APPLY_INTERVAL_MS - performance.now());
      setTimeout(() => {
        this.applyScheduled = false;
        this.appliedAtMs = performance.now();
        this.applying = this.applyInBackground();
      }, delayMs).unref();
    }
    clearTimeout(this.idleTimer);
    if (this.size > JOURNAL_HEADER_BYTES && !this.closed) {
      this.idleTimer = setTimeout(() => void this.enqueue(() => this.compact()).catch(() => {}), this.idleCompactMs);
      this.idleTimer.unref();
    }
  }

  /** Renames the newest data of each unapplied path into place, without fsync (the journal holds it). */
  private async applyInBackground(): Promise<void> {
    await this.applying;
    const due = [...this.unapplied];
    await Promise.all(
      due.map(async ([path, version]) => {
        const entry = this.journaled.get(path);
        if (!entry || entry.version !== version) return; // a newer write is due (or it was compacted)
        try {
          await this.files.place(path, entry.data);
        } catch {
          return; // left for the compaction, whose failure the writes then see
        }
        if (this.unapplied.get(path) === version) this.unapplied.delete(path);
      }),
    );
  }

  /** Every journaled file durably up to date (temp file, fsync, rename, directory fsync), then a new, empty generation. */
  private async compact(): Promise<void> {
    clearTimeout(this.idleTimer);
    await this.applying;
    if (!this.handle || (this.size === JOURNAL_HEADER_BYTES && !this.tailSuspect)) return; // nothing journaled
    await commitFiles(this.files, [...this.journaled].map(([path, { data }]) => [path, data]));
    this.generation = await startGeneration(this.handle, this.generation + 1, this.allocated);
    this.allocated = Math.min(this.allocated, JOURNAL_GROW_BYTES);
    this.size = JOURNAL_HEADER_BYTES;
    this.tailSuspect = false;
    this.journaled.clear();
    this.unapplied.clear();
    this.compactions++;
  }
}

/**
 * Makes the journal empty in `generation`: the header rewritten and fsynced (records of older
 * generations no longer count); a file grown past JOURNAL_GROW_BYTES is cut back to it. Returns the generation.
 */
async function startGeneration(handle: FileHandle, generation: number, allocated: number): Promise<number> {
  const next = generation >>> 0 || 1;
  await writeFully(handle, encodeHeader(next), 0);
  if (allocated > JOURNAL_GROW_BYTES) await handle.truncate(JOURNAL_GROW_BYTES);
  await handle.sync();
  return next;
}

async function writeFully(handle: FileHandle, buffer: Buffer, at: number): Promise<void> {
  let written = 0;
  while (written < buffer.length) written += (await handle.write(buffer, written, buffer.length - written, at + written)).bytesWritten;
}

/**
 * Applies a journal file's records (the newest data per path) to their files durably, then starts a
 * new generation in it (or makes a fresh journal, durably). A torn or damaged tail is dropped.
 * Returns the generation it is left in, its length, and how many records it held.
 */
export async function recoverJournalFile(
  files: CommitStore,
  path: string,
  /** 'open': the journal is used next (made if missing, always a new generation); 'apply': only bring the files up to date (nothing is written unless it holds records: a full disk must not stop a go-live). */
  mode: 'open' | 'apply' = 'open',
): Promise<{ generation: number; allocated: number; records: number }> {
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDWR);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    if (mode === 'apply') return { generation: 0, allocated: 0, records: 0 };
    // A fresh journal: its directory entry must be durable before a write may depend on the file.
    const dir = join(path, '..');
    const firstMade = await mkdir(dir, { recursive: true });
    const made = await open(path, constants.O_RDWR | constants.O_CREAT, 0o644);
    try {
      await startGeneration(made, 1, 0);
    } finally {
      await made.close();
    }
    await syncDirectory(dir);
    if (firstMade !== undefined) await syncDirectory(join(dir, '..'));
    return { generation: 1, allocated: JOURNAL_HEADER_BYTES, records: 0 };
  }
  try {
    const { size } = await handle.stat();
    const bytes = Buffer.alloc(size);
    let read = 0;
    while (read < size) {
      const { bytesRead } = await handle.read(bytes, read, size - read, read);
      if (bytesRead === 0) break;
      read += bytesRead;
    }
    const { generation, records } = decodeRecords(bytes.subarray(0, read));
    if (mode === 'apply' && records.length === 0) return { generation: generation ?? 0, allocated: size, records: 0 };
    await commitFiles(files, new Map(records.map((r) => [r.path, r.data]))); // the newest data per path
    const next = await startGeneration(handle, (generation ?? 0) + 1, size);
    return { generation: next, allocated: Math.max(JOURNAL_HEADER_BYTES, Math.min(size, JOURNAL_GROW_BYTES)), records: records.length };
  } finally {
    await handle.close();
  }
}
