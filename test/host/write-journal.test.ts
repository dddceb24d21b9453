// The write journal keeps what callers of writeGuestFile see (completions in issue order, a failed
// write leaves no trace) while a round of writes costs one append and one fdatasync: records are
// checked on read (a torn tail is ignored), the journal stays within journalBytesMax (a round too big
// for it goes straight to its files), and recovery brings the files up to date from it.
import { pbkdf2 } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeJournal, HOST_JOURNAL_FILE, journalOf, readGuestFile, recoverJournal, writeGuestFile } from '../../src/host/data-dir.js';
import { decodeRecords, encodeHeader, encodeRecord } from '../../src/host/write-journal.js';

let root: string;
let n = 0;
async function freshData(): Promise<string> {
  const data = join(root, `data-${++n}`);
  await mkdir(data, { recursive: true });
  return data;
}
const journalFileBytes = async (data: string) => (await readFile(join(data, HOST_JOURNAL_FILE))).length;
const journalRecords = async (data: string) => decodeRecords(await readFile(join(data, HOST_JOURNAL_FILE))).records;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'lockstep-journal-'));
});
afterAll(() => rm(root, { recursive: true, force: true }));

describe('journal records', () => {
  it('decode to what was encoded; a torn or damaged tail, zeros or an older generation end the valid prefix', () => {
    const header = encodeHeader(7);
    const a = encodeRecord('a.txt', 'one', 7);
    const b = encodeRecord('dir/b.txt', 'two ✓', 7);
    const whole = Buffer.concat([header, a, b]);
    expect(decodeRecords(whole)).toEqual({ generation: 7, records: [{ path: 'a.txt', data: 'one' }, { path: 'dir/b.txt', data: 'two ✓' }], validBytes: whole.length });
    expect(decodeRecords(whole.subarray(0, whole.length - 1)).records).toEqual([{ path: 'a.txt', data: 'one' }]);
    const flipped = Buffer.from(whole);
    flipped[whole.length - 2] ^= 0x01;
    expect(decodeRecords(flipped).records).toHaveLength(1);
    expect(decodeRecords(Buffer.concat([header, a, Buffer.alloc(64)])).records).toHaveLength(1);
    // A record left from before the last compaction (generation 6) is not read past the new header.
    expect(decodeRecords(Buffer.concat([header, a, encodeRecord('old.txt', 'stale', 6)])).records).toHaveLength(1);
    expect(decodeRecords(Buffer.concat([encodeHeader(8), a, b])).records).toHaveLength(0);
    expect(decodeRecords(Buffer.alloc(64)).generation).toBeUndefined();
  });
});

describe('writeGuestFile through the journal (real disk)', () => {
  it('writes issued in later turns while a round is being made durable share the next round (group commit)', async () => {
    const data = await freshData();
    const journal = journalOf(data);
    await writeGuestFile(data, 'warm.txt', 'opened'); // the journal's recovery and open are behind us
    const roundsBefore = journal.rounds;
    // Keep the first round in flight however fast this disk is: its append and fdatasync queue on
    // libuv's threads behind these.
    const threads = Number(process.env.UV_THREADPOOL_SIZE ?? 4);
    const busy = Array.from({ length: threads }, () => new Promise((r) => pbkdf2('x', 'y', 150_000, 32, 'sha256', r)));
    const first = writeGuestFile(data, 'a.txt', 'first');
    // Wait until that round has started (its write left the waiting list), then write from five later turns.
    while (journal.rounds === roundsBefore) await new Promise((r) => setImmediate(r));
    const later: Array<Promise<void>> = [];
    for (let i = 0; i < 5; i++) {
      later.push(writeGuestFile(data, `b${i}.txt`, `later ${i}`));
      await new Promise((r) => setImmediate(r));
    }
    await Promise.all([first, ...later, ...busy]);
    // Before group commit each of those turns was a round (and an fdatasync) of its own: 6 rounds.
    expect(journal.rounds - roundsBefore).toBe(2);
    expect(await readGuestFile(data, 'b4.txt')).toBe('later 4');
  });

  it('a round of writes is one append; completions in issue order; reads see the newest data; files catch up', async () => {
    const data = await freshData();
    const journal = journalOf(data);
    const order: number[] = [];
    const writes = Array.from({ length: 100 }, (_, i) => writeGuestFile(data, `f${i % 5}.txt`, `v${i}`).then(() => order.push(i)));
    await Promise.all(writes);
    expect(order).toEqual([...Array(100).keys()]);
    expect(journal.appends).toBe(1);
    // Five records (the newest per file), in the journal.
    expect((await journalRecords(data)).map((r) => r.path).sort()).toEqual(['f0.txt', 'f1.txt', 'f2.txt', 'f3.txt', 'f4.txt']);
    expect(await readGuestFile(data, 'f4.txt')).toBe('v99');
    await journal.compactNow();
    expect(await readFile(join(data, 'f0.txt'), 'utf8')).toBe('v95');
    expect(await journalRecords(data)).toEqual([]);
    await closeJournal(data);
  });

  it('a failed write (a directory in the way, a path outside) leaves no record and fails only itself', async () => {
    const data = await freshData();
    await mkdir(join(data, 'adir', 'inside'), { recursive: true });
    const { symlink } = await import('node:fs/promises');
    await symlink(tmpdir(), join(data, 'escape'));
    const results = await Promise.allSettled([writeGuestFile(data, 'adir', 'x'), writeGuestFile(data, 'escape/x.txt', 'no'), writeGuestFile(data, 'fine.txt', 'yes')]);
    expect(results[0]).toMatchObject({ status: 'rejected', reason: { message: expect.stringMatching(/^EISDIR/) } });
    expect(results[1]).toMatchObject({ status: 'rejected', reason: { message: 'EACCES: path escapes the data directory: escape/x.txt' } });
    expect(results[2]).toMatchObject({ status: 'fulfilled' });
    expect(await journalRecords(data)).toEqual([{ path: 'fine.txt', data: 'yes' }]);
    await closeJournal(data);
    expect(await readFile(join(data, 'fine.txt'), 'utf8')).toBe('yes');
    expect((await stat(join(data, 'adir'))).isDirectory()).toBe(true);
  });

  it('past journalBytesMax: the journal never exceeds it, compactions keep the files right, and a write bigger than it goes straight to its file', async () => {
    const data = await freshData();
    const bytesMax = 4096;
    const journal = journalOf(data, bytesMax);
    for (let i = 0; i < 60; i++) {
      await writeGuestFile(data, `s${i % 3}.txt`, `${i}:${'y'.repeat(300)}`, undefined, bytesMax);
      expect(await journalFileBytes(data)).toBeLessThanOrEqual(bytesMax);
    }
    expect(journal.compactions).toBeGreaterThan(2);
    expect(journal.sizeMax).toBeLessThanOrEqual(bytesMax);
    const big = 'z'.repeat(bytesMax * 2);
    await writeGuestFile(data, 'big.txt', big, undefined, bytesMax);
    expect(journal.directWrites).toBe(1);
    expect(await readFile(join(data, 'big.txt'), 'utf8')).toBe(big); // durable in its file at completion
    expect(await readGuestFile(data, 's2.txt')).toBe(`59:${'y'.repeat(300)}`);
    await closeJournal(data);
    for (let k = 0; k < 3; k++) expect(await readFile(join(data, `s${k}.txt`), 'utf8')).toBe(`${57 + k}:${'y'.repeat(300)}`);
    expect(await readdir(join(data, '.lockstep', 'tmp'))).toEqual([]);
  });

  it('recovery applies the newest data per file and ignores a torn tail', async () => {
    const data = await freshData();
    await mkdir(join(data, '.lockstep'), { recursive: true });
    await writeFile(join(data, 'a.txt'), 'old');
    const torn = encodeRecord('a.txt', 'torn', 3);
    await writeFile(join(data, HOST_JOURNAL_FILE), Buffer.concat([encodeHeader(3), encodeRecord('a.txt', 'new', 3), encodeRecord('sub/b.txt', 'bee', 3), torn.subarray(0, torn.length - 3)]));
    expect(await recoverJournal(data)).toBe(2);
    expect(await readFile(join(data, 'a.txt'), 'utf8')).toBe('new');
    expect(await readFile(join(data, 'sub/b.txt'), 'utf8')).toBe('bee');
    expect(await journalRecords(data)).toEqual([]);
    expect(decodeRecords(await readFile(join(data, HOST_JOURNAL_FILE))).generation).toBe(4);
  });
});
