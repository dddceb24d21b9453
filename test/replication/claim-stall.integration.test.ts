// Issue 19 (defect 4): a stalled shared filesystem. The pair's directory is a real ext4 filesystem
// on a loop device, frozen with fsfreeze(8) (every write blocks in the kernel until it is thawed).
// While the primary arbitrates, the requests flow control holds back are bounded in bytes (past the
// bound: 503 at once), and a claim that does not complete in --claim-timeout-ms stops the node.
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { add, assertBuilt, LEDGER, request, startPair, status, waitUntil, type Pair } from './helpers.js';

const BODY = 'b'.repeat(64 * 1024);

/** A loop-mounted ext4 filesystem we can freeze; undefined (with the reason) where that is impossible. */
async function freezableDir(): Promise<{ dir: string; image: string; freeze(): void; thaw(): void } | string> {
  if (process.getuid?.() !== 0) return 'needs root (mount, fsfreeze)';
  const base = await mkdtemp(join(tmpdir(), 'lockstep-claim-stall-'));
  const image = join(base, 'fs.img');
  const dir = join(base, 'mnt');
  try {
    await writeFile(image, Buffer.alloc(0));
    execFileSync('truncate', ['-s', '64M', image]);
    execFileSync('mkfs.ext4', ['-q', image]);
    execFileSync('mkdir', ['-p', dir]);
    execFileSync('mount', ['-o', 'loop', image, dir]);
  } catch (error) {
    await rm(base, { recursive: true, force: true });
    return `cannot loop-mount an ext4 image: ${error instanceof Error ? error.message.split('\n')[0] : error}`;
  }
  return { dir, image, freeze: () => execFileSync('fsfreeze', ['-f', dir]), thaw: () => execFileSync('fsfreeze', ['-u', dir]) };
}

const fs = await freezableDir();
let pair: Pair | undefined;
afterAll(async () => {
  if (typeof fs === 'string') return;
  try {
    fs.thaw();
  } catch {
    /* not frozen */
  }
  await pair?.kill();
  execFileSync('umount', ['-l', fs.dir]);
  await rm(join(fs.dir, '..'), { recursive: true, force: true });
});

describe.skipIf(typeof fs === 'string')(`a stalled shared filesystem ${typeof fs === 'string' ? `(skipped: ${fs})` : ''}`, () => {
  it('while arbitrating, held-back requests are bounded in bytes (503 past it), and a claim stuck past --claim-timeout-ms stops the node (exit 11)', async () => {
    assertBuilt();
    if (typeof fs === 'string') return;
    const limits = ['--unacked-bytes-max', '1024', '--admission-waiting-bytes-max', String(200 * 1024), '--claim-timeout-ms', '3000'];
    pair = await startPair(fs.dir, { program: LEDGER, heartbeatMs: 50, failureTimeoutMs: 300, primaryExtra: limits });
    const { primary, secondary } = pair;
    for (let i = 0; i < 5; i++) expect((await add(primary.url, `before-${i}`)).status).toBe(200);
    fs.freeze();
    await secondary.proc.kill();
    await waitUntil(async () => (await status(primary.url))?.protection === 'arbitrating', 10_000, 'primary arbitrating');
    // Ten requests of 64 KiB: the first is logged and held; the bound lets three wait; the rest are refused at once.
    const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => add(primary.url, `during-${i}`, BODY, 15_000).then((a) => a, () => undefined)));
    const refused = answers.filter((a) => a?.status === 503 && /LOCKSTEP_OVERLOADED|--admission-waiting-bytes-max/.test(a.body));
    expect(refused.length).toBeGreaterThanOrEqual(5);
    expect(answers.filter((a) => a?.status === 200)).toEqual([]); // nothing is released without a decided claim
    // The claim is stuck in the kernel: past the deadline the node stops serving, though the filesystem is still frozen.
    await primary.proc.waitFor(/LOCKSTEP_CLAIM_TIMEOUT/, 20_000);
    await waitUntil(async () => (await request(primary.url, { path: '/n', timeoutMs: 500 }).then(() => false, () => true)), 10_000, 'service port closed');
    fs.thaw();
    expect((await primary.proc.waitExit(20_000)).code).toBe(11);
  });
});
