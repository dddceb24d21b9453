// Group commit keeps what callers see: completions in issue order, each only after data at least
// as new as its own is renamed into place and its directory fsync'd, the newest data last on disk,
// and an error reported to exactly the writes it covered. Fake stores watch the disk steps; the
// last tests use the real data directory.
import { mkdtemp, readdir, readFile, rm, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GroupCommitter, type CommitStore, type Prepared } from '../../src/host/group-commit.js';
import { closeJournal, HOST_TEMP_DIR, journalOf, writeGuestFile } from '../../src/host/data-dir.js';

type Step = { op: 'prepare' | 'publish' | 'sync'; file: string; data?: string } | { op: 'done'; call: number; data: string; ok: boolean };

/** A store that logs every step; `delayMs(data)` slows the prepare of some data, `fail(data)` fails it. */
function fakeStore(trace: Step[], opts: { delayMs?: (data: string) => number; fail?: (data: string) => boolean; failSync?: boolean; syncDelayMs?: (n: number) => number } = {}): CommitStore {
  const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
  let syncs = 0;
  return {
    async prepare(file, data) {
      await wait(opts.delayMs?.(data) ?? 2);
      if (opts.fail?.(data)) throw new Error(`EIO: cannot write ${file}`);
      trace.push({ op: 'prepare', file, data });
      return { file, temp: `${file}.tmp-${data}`, directories: [file.includes('/') ? file.slice(0, file.lastIndexOf('/')) : '.'] } satisfies Prepared;
    },
    async publish(p) {
      await wait(1);
      trace.push({ op: 'publish', file: p.file, data: p.temp.slice(p.file.length + 5) });
    },
    async syncDirectory(dir) {
      await wait(opts.syncDelayMs?.(syncs++) ?? 1);
      if (opts.failSync) throw new Error(`EIO: cannot sync ${dir}`);
      trace.push({ op: 'sync', file: dir });
    },
  };
}

/** Issues writes (file, data) in order and records each completion into the trace; resolves when all settled. */
async function issue(committer: GroupCommitter, trace: Step[], writes: [string, string][]): Promise<(Error | undefined)[]> {
  const results = writes.map(([file, data], call) =>
    committer.write(file, data).then(
      () => {
        trace.push({ op: 'done', call, data, ok: true });
        return undefined;
      },
      (error: Error) => {
        trace.push({ op: 'done', call, data, ok: false });
        return error;
      },
    ),
  );
  return Promise.all(results);
}

const doneOrder = (trace: Step[]) => trace.flatMap((s) => (s.op === 'done' ? [s.call] : []));

describe('GroupCommitter', () => {
  it('completes writes to one file in issue order, writes fewer times than called, and ends with the newest data', async () => {
    const trace: Step[] = [];
    const committer = new GroupCommitter(fakeStore(trace));
    const writes = Array.from({ length: 20 }, (_, i): [string, string] => ['state.txt', `v${i}`]);
    // Half now, half while the first round is in flight.
    const first = issue(committer, trace, writes.slice(0, 10));
    await new Promise((r) => setTimeout(r, 1));
    const second = issue(committer, trace, writes.slice(10));
    const errors = [...(await first), ...(await second)];
    expect(errors.every((e) => e === undefined)).toBe(true);
    const calls = trace.flatMap((s) => (s.op === 'done' ? [s] : []));
    expect(calls.map((s) => s.op === 'done' && s.call)).toEqual([...Array(10).keys(), ...Array(10).keys()]);
    expect(committer.fileWrites).toBeLessThan(20);
    const published = trace.filter((s) => s.op === 'publish');
    expect(published.at(-1)).toMatchObject({ data: 'v19' });
    // Renames in issue order: the file never goes back to older data.
    const versions = published.map((s) => Number(s.op === 'publish' && s.data!.slice(1)));
    expect([...versions].sort((a, b) => a - b)).toEqual(versions);
  });

  it('reports each write only after data at least as new is renamed and its directory fsync\'d', async () => {
    const trace: Step[] = [];
    const committer = new GroupCommitter(fakeStore(trace, { delayMs: (d) => (d === 'v1' ? 15 : 1) }));
    const writes = Array.from({ length: 12 }, (_, i): [string, string] => ['dir/f', `v${i}`]);
    const settled = [issue(committer, trace, writes.slice(0, 2))];
    for (let i = 2; i < 12; i += 2) {
      await new Promise((r) => setTimeout(r, 3));
      settled.push(issue(committer, trace, writes.slice(i, i + 2)));
    }
    await Promise.all(settled);
    // Walk the trace: a version is durable once published and then a directory sync happened.
    let durable = -1;
    let lastPublished = -1;
    const completed: { version: number; durable: number }[] = [];
    for (const step of trace) {
      if (step.op === 'publish') lastPublished = Number(step.data!.slice(1));
      if (step.op === 'sync') durable = Math.max(durable, lastPublished);
      if (step.op === 'done') completed.push({ version: Number(step.data.slice(1)), durable });
    }
    expect(completed.map((c) => c.version)).toEqual([...Array(12).keys()]);
    for (const c of completed) expect(c.durable, `v${c.version} completed with only v${c.durable} durable`).toBeGreaterThanOrEqual(c.version);
    expect(committer.fileWrites).toBeLessThan(12);
  });

  it('a later round of a file that becomes durable first still reports after the earlier round', async () => {
    const trace: Step[] = [];
    // Two rounds of a file may overlap when allowed (the default is one at a time).
    const committer = new GroupCommitter(fakeStore(trace, { syncDelayMs: (n) => (n === 0 ? 30 : 1) }), 2);
    const first = issue(committer, trace, [['f', 'v0']]);
    await new Promise((r) => setTimeout(r, 5)); // v0 is renamed and in its (slow) directory fsync
    const second = issue(committer, trace, [['f', 'v1']]);
    await Promise.all([first, second]);
    expect(trace.filter((s) => s.op === 'done').map((s) => s.op === 'done' && s.data)).toEqual(['v0', 'v1']);
    expect(committer.fileWrites).toBe(2);
  });

  it('a failing write reports its error to exactly the writes it covered', async () => {
    const trace: Step[] = [];
    const committer = new GroupCommitter(fakeStore(trace, { fail: (d) => d === 'bad', delayMs: () => 5 }));
    const a = committer.write('f', 'first');
    await new Promise((r) => setImmediate(r));
    // Queued behind 'first' (and behind nothing else): one round covers 'x' and 'bad', and it fails.
    const covered = [committer.write('f', 'x'), committer.write('f', 'bad')];
    const results = await Promise.allSettled([a, ...covered]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'rejected']);
    expect((results[1] as PromiseRejectedResult).reason.message).toBe('EIO: cannot write f');
    // The next write is covered by a new round and succeeds; the file ends with it.
    await committer.write('f', 'after');
    expect(trace.filter((s) => s.op === 'publish').map((s) => s.op === 'publish' && s.data)).toEqual(['first', 'after']);
  });

  it('a refused write (too large) reports its own error in its turn and is covered by no write', async () => {
    const trace: Step[] = [];
    const committer = new GroupCommitter(fakeStore(trace));
    const order: string[] = [];
    const calls = [
      committer.write('f', 'a').then(() => order.push('a')),
      committer.write('f', 'huge', new Error('EFBIG: too large')).catch((e: Error) => order.push(e.message)),
      committer.write('f', 'c').then(() => order.push('c')),
      committer.write('g', 'huge', new Error('EFBIG: too large')).catch((e: Error) => order.push(`g ${e.message}`)),
    ];
    await Promise.all(calls);
    expect(order).toEqual(['a', 'EFBIG: too large', 'c', 'g EFBIG: too large']);
    expect(trace.filter((s) => s.op === 'prepare').map((s) => s.op === 'prepare' && s.data)).toEqual(['c']);
  });

  it('files written in one loop turn share one round and one fsync per directory', async () => {
    const trace: Step[] = [];
    const committer = new GroupCommitter(fakeStore(trace));
    await issue(committer, trace, [['d/a', '1'], ['d/b', '2'], ['d/c', '3'], ['e/x', '4']]);
    expect(committer.rounds).toBe(1);
    expect(trace.flatMap((s) => (s.op === 'sync' ? [s.file] : [])).sort()).toEqual(['d', 'e']);
    expect(doneOrder(trace)).toEqual([0, 1, 2, 3]);
  });

  it('a failing directory fsync fails the writes of that round, and they are not reported done', async () => {
    const trace: Step[] = [];
    const committer = new GroupCommitter(fakeStore(trace, { failSync: true }));
    const errors = await issue(committer, trace, [['d/a', '1'], ['d/b', '2']]);
    expect(errors.map((e) => e?.message)).toEqual(['EIO: cannot sync d', 'EIO: cannot sync d']);
  });
});

describe('writeGuestFile (real disk)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lockstep-group-commit-'));
    await mkdir(join(dir, 'data'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('many concurrent writes: completions in issue order, the last write wins, fewer disk writes, no temp files left', async () => {
    const data = join(dir, 'data');
    const journal = journalOf(data);
    const before = journal.appends;
    const order: number[] = [];
    const writes = Array.from({ length: 200 }, (_, i) => writeGuestFile(data, 'sub/state.txt', `state ${i}`).then(() => order.push(i)));
    // Another file, interleaved: its own order, its own final content.
    const other = Array.from({ length: 50 }, (_, i) => writeGuestFile(data, 'other.txt', `other ${i}`));
    await Promise.all([...writes, ...other]);
    expect(order).toEqual([...Array(200).keys()]);
    expect(journal.appends - before).toBeLessThan(250);
    // The files are brought up to date behind the journal: at the latest at a compaction (here a clean stop).
    await closeJournal(data);
    expect(await readFile(join(data, 'sub/state.txt'), 'utf8')).toBe('state 199');
    expect(await readFile(join(data, 'other.txt'), 'utf8')).toBe('other 49');
    expect(await readdir(join(data, HOST_TEMP_DIR))).toEqual([]);
    expect((await readdir(data)).sort()).toEqual(['.lockstep', 'other.txt', 'sub']);
  });

  it('a write over a directory fails with the rename\'s error and leaves no temp file', async () => {
    const data = join(dir, 'data');
    await mkdir(join(data, 'adir'));
    await expect(writeGuestFile(data, 'adir', 'x')).rejects.toThrow(/EISDIR|EEXIST|ENOTEMPTY/);
    await closeJournal(data);
    expect(await readdir(join(data, HOST_TEMP_DIR))).toEqual([]);
  });

  it('a path through a symlink out of the data directory fails only the writes it covered', async () => {
    const data = join(dir, 'data');
    const { symlink } = await import('node:fs/promises');
    await symlink(tmpdir(), join(data, 'escape'));
    const results = await Promise.allSettled([writeGuestFile(data, 'escape/x.txt', 'no'), writeGuestFile(data, 'fine.txt', 'yes')]);
    expect(results[0]).toMatchObject({ status: 'rejected', reason: { message: 'EACCES: path escapes the data directory: escape/x.txt' } });
    expect(results[1]).toMatchObject({ status: 'fulfilled' });
    await closeJournal(data);
    expect(await readFile(join(data, 'fine.txt'), 'utf8')).toBe('yes');
  });
});
