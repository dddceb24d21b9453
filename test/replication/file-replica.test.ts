// A secondary's replica of the guest's files: installed from what the primary sent, then written
// in log order; installed again (a second fresh start in one process: a new checkpoint, a log that
// no longer continues, a rejoin) it still takes writes; what it cannot write is an error at flush.
import { mkdir, mkdtemp, readFile, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FileReplica } from '../../src/replication/file-replica.js';
import { ReplicaError } from '../../src/replication/errors.js';
import { packDataDir, unpackFiles } from '../../src/replication/files-archive.js';

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});
async function dir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'lockstep-replica-'));
  dirs.push(d);
  return d;
}
const bytes = (text: string) => new Uint8Array(Buffer.from(text));

describe('FileReplica', () => {
  it('installs the files given, applies writes after them in order, and can be installed again in the same process', async () => {
    const root = await dir();
    const replica = new FileReplica(root);
    expect(replica.state).toBe('need');
    replica.install([['a.txt', bytes('one')], ['sub/b.txt', bytes('two')], ['.lockstep/storage.json', bytes('{}')]]);
    replica.apply({ path: 'a.txt', data: 'one, then two' });
    replica.apply({ path: 'c/new.txt', data: 'made by a write' });
    await replica.flush();
    expect(replica.state).toBe('have');
    expect(await readlink(join(root, 'data'))).toBe('replica');
    expect(await readFile(join(root, 'data/a.txt'), 'utf8')).toBe('one, then two');
    expect(await readFile(join(root, 'data/sub/b.txt'), 'utf8')).toBe('two');
    expect(await readFile(join(root, 'data/c/new.txt'), 'utf8')).toBe('made by a write');

    replica.invalidate();
    replica.install([['a.txt', bytes('fresh')]]);
    replica.apply({ path: 'a.txt', data: 'fresh, then written' });
    await replica.flush();
    expect(await readFile(join(root, 'data/a.txt'), 'utf8')).toBe('fresh, then written');
    await expect(readFile(join(root, 'data/sub/b.txt'), 'utf8')).rejects.toThrow(/ENOENT/); // the old replica is gone whole
  });

  it('packs a data directory without the host temp files, and unpacks only guest paths', async () => {
    const source = await dir();
    const replica = new FileReplica(source);
    replica.install([['x.txt', bytes('x')], ['.lockstep/tmp/123-1', bytes('half a write')], ['.lockstep/journal', bytes('a journal')], ['.lockstep/storage.json', bytes('{"s":1}')]]);
    await replica.flush();
    const files = unpackFiles(await packDataDir(join(source, 'data'), 1024));
    expect(files.map(([path]) => path)).toEqual(['.lockstep/storage.json', 'x.txt']);
    await expect(packDataDir(join(source, 'data'), 10)).rejects.toThrow(ReplicaError);
    const { Packr } = await import('msgpackr');
    expect(() => unpackFiles(new Packr({ useRecords: false }).pack([['../escape', bytes('no')]]))).toThrow(/not normalized/);
  });

  it('a write that cannot be made is an error at flush: this copy could not take over', async () => {
    const root = await dir();
    const replica = new FileReplica(root);
    replica.install([]);
    await replica.flush();
    await mkdir(join(root, 'replica/taken.txt/inside'), { recursive: true }); // a directory where the file goes: even root cannot rename over it
    replica.apply({ path: 'taken.txt', data: 'x' });
    const error = await replica.flush().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ReplicaError);
    expect((error as Error).message).toMatch(/cannot write taken\.txt \((EISDIR|ENOTEMPTY|EEXIST).*\).*cannot take over/);
  });

  it('flush before any files were given says so', async () => {
    await expect(new FileReplica(await dir()).flush()).rejects.toThrow(/never received the guest's files/);
  });
});
