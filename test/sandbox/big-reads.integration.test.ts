// Issue 20, item 3: a guest reading a big file that is not UTF-8 (each bad byte becomes U+FFFD, three
// bytes in the log) made an entry larger than a log frame, and the primary died shipping it (and the
// survivor again when a fresh secondary attached). The read is bounded by its size as logged: the
// guest gets EFBIG, the pair serves on, a fresh secondary catches up, a failover keeps the answer.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FILE_BYTES_MAX } from '../../src/host/data-dir.js';
import { request, ROOT, startPair, startSecondary, status, testResources, waitUntil } from '../replication/helpers.js';

const { dirFor, track } = testResources();
const READER = join(ROOT, 'test/fixtures/guests/reader.js');
const TIMING = { failureTimeoutMs: 2000 }; // the pair's timing is not under test here

async function read(url: string, name: string, key: string) {
  const answer = await request(url, { path: `/read/${name}`, headers: { 'idempotency-key': key }, timeoutMs: 20_000 });
  return { status: answer.status, body: JSON.parse(answer.body) as { chars?: number; error?: string } };
}

describe('a guest reading a big non-UTF-8 file', () => {
  it('gets EFBIG; the primary, a fresh secondary and the survivor of a failover all serve on', { timeout: 120_000 }, async () => {
    const dir = await dirFor('big-read');
    const pair = await startPair(dir, { ...TIMING, program: READER });
    const primary = track(pair.primary);
    const first = track(pair.secondary);
    await writeFile(join(dir, 'data/big.bin'), Buffer.alloc(FILE_BYTES_MAX, 0xff)); // within the byte limit on disk
    await writeFile(join(dir, 'data/small.bin'), Buffer.alloc(1000, 0xff));

    const big = await read(primary.url, 'big.bin', 'big');
    expect(big.status).toBe(500);
    expect(big.body.error).toMatch(/^EFBIG: big\.bin .*UTF-8/);
    const small = await read(primary.url, 'small.bin', 'small');
    expect(small).toEqual({ status: 200, body: { chars: 1000 } });
    expect(primary.proc.alive).toBe(true);

    // A fresh secondary catches up on the whole log, the read entries included.
    await first.proc.kill();
    await waitUntil(async () => (await status(primary.url))?.protection === 'unprotected', 20_000, 'primary alone');
    const second = track(await startSecondary({ ...TIMING, program: READER, dir, primaryUrl: `ws://127.0.0.1:${primary.logPort}` }));
    await waitUntil(async () => (await status(primary.url))?.protection === 'protected', 30_000, 'primary protected again');
    await waitUntil(async () => (await status(second.url))?.lagEntries === 0, 30_000, 'fresh secondary replayed everything');

    await primary.proc.kill();
    await waitUntil(async () => (await status(second.url))?.role === 'primary', 20_000, 'the fresh secondary is live');
    expect(await read(second.url, 'big.bin', 'big')).toEqual(big);
    expect(await read(second.url, 'small.bin', 'small')).toEqual(small);
    expect((await read(second.url, 'big.bin', 'big-again')).body.error).toMatch(/^EFBIG/);
    expect(second.proc.alive).toBe(true);
  });
});
