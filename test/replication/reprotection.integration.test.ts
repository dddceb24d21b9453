// Issue 9 (run forever), with real processes and real kills: a fresh secondary is re-protected from
// the primary's newest checkpoint instead of the whole history (and the primary drops the log the
// checkpoint covers); a promoted node re-protects itself the same way; a silent divergence is caught
// at the next checkpoint, before any output differs; the replay backlog is bounded.
import { describe, expect, it } from 'vitest';
import { LinkProxy } from '../../src/chaos/link-proxy.js';
import { add, claimFiles, LEDGER, ledgerCount, startPrimary, startSecondary, status, testResources, waitUntil, type StartedNode } from './helpers.js';

const { dirFor, track } = testResources();

const TIMING = { heartbeatMs: 50, failureTimeoutMs: 1000 };
const CHECKPOINT_OFTEN = ['--checkpoint-every-entries', '300'];

async function addMany(url: string, prefix: string, n: number, timeoutMs = 3000): Promise<void> {
  for (let i = 0; i < n; i++) expect((await add(url, `${prefix}-${i}`, '', timeoutMs)).status).toBe(200);
}

const protectedPrimary = (node: StartedNode) => waitUntil(async () => (await status(node.url))?.protection === 'protected', 20_000, `${node.proc.name} protected`);
const live = (node: StartedNode) => waitUntil(async () => (await status(node.url))?.role === 'primary', 15_000, `${node.proc.name} live`);

describe('re-protection from a checkpoint', () => {
  it('a fresh secondary gets the newest checkpoint and the log after it, then takes over with nothing lost; the promoted node re-protects itself the same way', async () => {
    const dir = await dirFor('reprotect');
    const primary = track(await startPrimary({ ...TIMING, dir, program: LEDGER, extra: CHECKPOINT_OFTEN }));
    await addMany(primary.url, 'a', 1200);
    const before = (await status(primary.url))!;
    expect(before.checkpointSeq).toBeGreaterThan(300);
    // The log the checkpoint covers is gone from memory.
    expect(before.retainedFrom).toBeGreaterThan(1);
    expect(before.retainedFrom).toBeLessThanOrEqual(before.checkpointSeq + 1);

    const secondary = track(await startSecondary({ ...TIMING, dir, program: LEDGER, primaryUrl: `ws://127.0.0.1:${primary.logPort}`, extra: CHECKPOINT_OFTEN }));
    await protectedPrimary(primary);
    const following = (await status(secondary.url))!;
    expect(following.restoredFromSeq).toBeGreaterThanOrEqual(before.checkpointSeq);
    expect(secondary.proc.stderr).toMatch(/restored the checkpoint after #\d+/);

    await addMany(primary.url, 'b', 400); // past another checkpoint, which the secondary verifies and keeps
    await waitUntil(async () => ((await status(secondary.url))?.checkpointSeq ?? 0) > following.restoredFromSeq, 10_000, 'secondary took its own checkpoint');
    await primary.proc.kill();
    await live(secondary);
    expect(await ledgerCount(secondary.url)).toBe(1600);

    // The promoted node gives its own checkpoint to the next fresh secondary.
    const third = track(await startSecondary({ ...TIMING, dir, program: LEDGER, primaryUrl: `ws://127.0.0.1:${secondary.logPort}`, name: 'third' }));
    await protectedPrimary(secondary);
    expect(((await status(third.url))!.restoredFromSeq as number)).toBeGreaterThan(0);
    await addMany(secondary.url, 'c', 50);
    await secondary.proc.kill();
    await live(third);
    expect(await ledgerCount(third.url)).toBe(1650);
  });

  it('a secondary cut off while the primary went on alone and checkpointed past it reconnects and is re-protected from the newest checkpoint, and takes over with nothing lost', async () => {
    const dir = await dirFor('far-behind');
    const primary = track(await startPrimary({ ...TIMING, dir, program: LEDGER, extra: CHECKPOINT_OFTEN }));
    const proxy = new LinkProxy({ host: '127.0.0.1', port: primary.logPort });
    await proxy.listen();
    // The secondary waits far longer than the cut lasts before it would claim; the primary drops it at once (reset).
    const viaProxy = { heartbeatMs: 50, failureTimeoutMs: 8000, dir, program: LEDGER, primaryUrl: `ws://127.0.0.1:${proxy.port}`, extra: CHECKPOINT_OFTEN };
    const secondary = track(await startSecondary(viaProxy));
    try {
      await protectedPrimary(primary);
      await addMany(primary.url, 'f', 100);
      await waitUntil(async () => (await status(secondary.url))?.replayedSeq >= 100, 10_000, 'secondary caught up');
      const held = (await status(secondary.url))!;
      expect(held.restoredFromSeq).toBe(0); // it replayed from #1: no checkpoint existed when it joined

      // Packets dropped, connections open: the primary (1 s failure timeout) gives up on it long before it (8 s) would.
      proxy.set({ kind: 'blackhole' });
      await waitUntil(async () => (await status(primary.url))?.protection === 'unprotected', 5000, 'primary alone');
      await Promise.all(Array.from({ length: 8 }, (_, c) => addMany(primary.url, `g${c}`, 100)));
      const alone = (await status(primary.url))!;
      expect(alone.epoch).toBe(1); // it won the next epoch when its secondary went silent
      // The log after what the secondary holds is gone: only a checkpoint can bring a secondary back.
      expect(alone.retainedFrom).toBeGreaterThan((held.receivedSeq as number) + 1);

      proxy.set({ kind: 'pass' });
      // The primary's drop reached it as a closed connection: a blip, not a verdict. It reconnects
      // well within its failure timeout; the log it needs is gone, so it is given the newest checkpoint.
      await protectedPrimary(primary);
      expect(secondary.proc.alive).toBe(true);
      expect(await claimFiles(dir)).toEqual(['epoch-0', 'epoch-1']);
      expect((await status(secondary.url))!.restoredFromSeq).toBeGreaterThanOrEqual(alone.checkpointSeq as number);
      await addMany(primary.url, 'h', 50);
      await primary.proc.kill();
      await live(secondary);
      expect(await ledgerCount(secondary.url)).toBe(100 + 800 + 50);
    } finally {
      await proxy.close();
    }
  });

  it('a silent divergence is caught at the next checkpoint with the entry number and both digests, and no output differs', async () => {
    const dir = await dirFor('diverge');
    const primary = track(await startPrimary({ ...TIMING, dir, program: LEDGER, extra: CHECKPOINT_OFTEN }));
    const secondary = track(await startSecondary({ ...TIMING, dir, program: LEDGER, primaryUrl: `ws://127.0.0.1:${primary.logPort}`, env: { LOCKSTEP_FAULT_PERTURB_STATE: '1' } }));
    await protectedPrimary(primary);
    await addMany(primary.url, 'd', 600);
    const exit = await secondary.proc.exited;
    expect(exit.code).toBe(3);
    const said = secondary.proc.stderr;
    expect(said).toMatch(/DIVERGED/);
    const [, entry, logged, mine] = /entry #(\d+).*state digest ([0-9a-f]{64}).*digest ([0-9a-f]{64})/s.exec(said) ?? [];
    expect(Number(entry)).toBeGreaterThan(0);
    expect(logged).not.toBe(mine);
    // It never went live, and the outputs digests (check entries every 64 events) had agreed until then.
    expect(said).not.toMatch(/LIVE|claiming epoch/);
    expect(said).not.toMatch(/outputs digest/);
    // The primary goes on alone with every answer right.
    await waitUntil(async () => (await status(primary.url))?.protection === 'unprotected', 10_000, 'primary alone');
    await addMany(primary.url, 'e', 10);
    expect(await ledgerCount(primary.url)).toBe(610);
  });
});

describe('the replay backlog', () => {
  it('a secondary that replays slower holds the primary back: what it would replay at go-live stays under the bound, and nothing is lost', async () => {
    const dir = await dirFor('backlog');
    const BOUND = 1024;
    const primary = track(await startPrimary({ ...TIMING, dir, program: LEDGER, extra: ['--replay-backlog-entries-max', String(BOUND)] }));
    const secondary = track(await startSecondary({ ...TIMING, dir, program: LEDGER, primaryUrl: `ws://127.0.0.1:${primary.logPort}`, env: { LOCKSTEP_FAULT_SLOW_REPLAY_MS: '3' } }));
    await protectedPrimary(primary);
    let maxLag = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const s = await status(secondary.url);
        if (s) maxLag = Math.max(maxLag, s.lagEntries as number);
        await new Promise((r) => setTimeout(r, 25));
      }
    })();
    // 32 clients at once, far faster than 3 ms a replayed entry; an answer waits for up to a bound's worth of replay.
    await Promise.all(Array.from({ length: 32 }, (_, c) => addMany(primary.url, `l${c}`, 120, 20_000)));
    sampling = false;
    await sampler;
    // Without the bound the backlog would grow to the in-flight window (1 MiB: tens of thousands of these entries).
    expect(maxLag).toBeGreaterThan(BOUND / 4); // the fault made it lag at all
    expect(maxLag).toBeLessThanOrEqual(BOUND + 16); // a batch ends on an event boundary
    await primary.proc.kill();
    await live(secondary);
    expect(await ledgerCount(secondary.url)).toBe(3840);
  });
});
