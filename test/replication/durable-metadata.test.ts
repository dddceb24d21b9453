// Issue 20, item 5: new epoch metadata is fsynced. A claim file created with O_EXCL is durable only
// once its directory is fsynced too (a crash could otherwise lose the claim the winner acts on), and
// so are a new epoch's directory, the hard links in it, and the swap of the `data` link. Every
// fsync goes through a file handle's sync(), which this test records by path.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

const synced: string[] = [];
vi.mock('node:fs/promises', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs/promises')>();
  const open: typeof actual.open = async (...args: Parameters<typeof actual.open>) => {
    const handle = await actual.open(...args);
    const sync = handle.sync.bind(handle);
    handle.sync = async () => {
      await sync();
      synced.push(String(args[0]));
    };
    return handle;
  };
  return { ...actual, open, default: { ...actual, open } };
});

const { claimEpoch, updateOwnClaim } = await import('../../src/replication/arbitration.js');
const { takeEpochData } = await import('../../src/replication/epoch-data.js');
const { dataDirOf, writeGuestFile } = await import('../../src/host/data-dir.js');

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lockstep-durable-'));
  synced.length = 0;
});
afterEach(() => rm(dir, { recursive: true, force: true }));

describe('epoch metadata on disk', () => {
  it('a won claim: the file, then the claims directory (and the shared directory that got it) are fsynced', async () => {
    expect(await claimEpoch(dir, 0, 'test')).toBe('won');
    expect(synced).toEqual(expect.arrayContaining([join(dir, 'claims/epoch-0'), join(dir, 'claims'), dir]));
    expect(synced.indexOf(join(dir, 'claims'))).toBeGreaterThan(synced.indexOf(join(dir, 'claims/epoch-0')));
    synced.length = 0;
    await updateOwnClaim(dir, 0, { releasedAtMs: 1 });
    expect(synced.at(-1)).toBe(join(dir, 'claims')); // after the rename that replaced the claim
  });

  it("taking an epoch fsyncs its directory, the links copied into it, and the shared directory after the data link's swap", async () => {
    const one = await takeEpochData(dir, 1);
    expect(synced).toEqual(expect.arrayContaining([join(dir, 'epochs'), dir])); // the new (empty) epochs/1 in epochs, epochs in dir
    await writeGuestFile(dataDirOf(dir), 'sub/a.txt', 'alpha');
    synced.length = 0;
    await takeEpochData(dir, 2);
    expect(synced).toEqual(expect.arrayContaining([join(dir, 'epochs'), join(dir, 'epochs/2'), join(dir, 'epochs/2/sub'), dir]));
    expect(synced.at(-1)).toBe(dir); // the data link's rename is the last step, and it is made durable
    expect(one).toBe(join(dir, 'epochs/1'));
  });
});
