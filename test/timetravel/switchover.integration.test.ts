// `lockstep switchover` on real processes: under keyed load, a protected pair hands the primary role
// to a shadow running an equivalent new program; no request is lost or answered twice, the count is
// the keys answered, and the old nodes stop. Bad inputs are clear errors with their own exit codes.
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { FIXTURES, startShadow as startShadowProc } from './shadow-helpers.js';
import { runLoad } from '../../src/client/load-client.js';
import { makeWorkload } from '../../src/client/workloads.js';
import { count, increment, Proc, request, ROOT, sleep, startPair, startSecondary, status, testResources, waitUntil, type StartedNode } from '../replication/helpers.js';

const resources = testResources();

const startShadow = async (...args: Parameters<typeof startShadowProc>): Promise<StartedNode> => resources.track(await startShadowProc(...args));

async function switchover(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const proc = new Proc('switchover', ['switchover', ...args]);
  const exit = await proc.exited;
  return { code: exit.code, stdout: proc.stdout, stderr: proc.stderr };
}

describe('lockstep switchover', () => {
  it('hands the primary role to a shadow under keyed load: nothing lost, nothing answered twice', async () => {
    const dir = await resources.dirFor('switchover');
    const pair = await startPair(dir, { failureTimeoutMs: 1000 });
    resources.track(pair.primary);
    resources.track(pair.secondary);
    const shadow = await startShadow('counter-refactor.js', dir, pair.primary.logPort);
    await waitUntil(async () => (await status(pair.primary.url))?.shadow != null, 10_000, 'shadow attached');
    const loading = runLoad({ targets: [pair.primary.url, pair.secondary.url, shadow.url], rate: 60, durationMs: 5000, concurrency: 4, workload: makeWorkload('counter'), seed: 42 });
    await waitUntil(async () => ((await status(shadow.url))?.followedEntries ?? 0) >= 40, 15_000, 'shadow followed 40 entries');
    const result = await switchover(['--to', shadow.url, '--after-entries', '40', '--dir', dir]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/switched over: .* runs counter-refactor\.js as the primary of epoch 1/);
    const load = await loading;
    expect(load.lost).toBe(0);
    expect(load.duplicates).toBe(0);
    const live = (await status(shadow.url))!;
    expect(live).toMatchObject({ role: 'primary', promotedFromShadow: true, epoch: 1, divergences: 0 });
    // Every key answered once, and counted once (counter answers count = keys answered).
    expect(await count(shadow.url)).toBe(load.answered);
    // The old primary and its secondary run the old program: they stop, cleanly.
    expect((await pair.primary.proc.exited).code).toBe(0);
    expect((await pair.secondary.proc.exited).code).toBe(0);
    expect(pair.primary.proc.stderr).toMatch(/handed over to the shadow/);
    expect(pair.secondary.proc.stderr).toMatch(/stopped on purpose .*not going live/);
    // A fresh secondary of the new program protects the new primary (from its go-live checkpoint: the
    // log before it holds the old program's digests).
    await waitUntil(async () => (await status(shadow.url))?.checkpointSeq != null, 10_000, 'go-live checkpoint');
    const fresh = resources.track(await startSecondary({ dir, program: join(FIXTURES, 'counter-refactor.js'), primaryUrl: `ws://${live.logListen}`, failureTimeoutMs: 1000 }));
    await waitUntil(async () => (await status(shadow.url))?.protection === 'protected', 15_000, 'the new primary protected');
    expect((await increment(shadow.url, 'after-switchover')).status).toBe(200);
    await waitUntil(async () => ((await status(fresh.url))?.replayedSeq ?? 0) >= (await status(shadow.url))!.lastSeq, 10_000, 'fresh secondary replayed');
    expect((await status(fresh.url))!).toMatchObject({ state: 'following', restoredFromSeq: (await status(shadow.url))!.checkpointSeq });
  }, 90_000);

  it('hands over a guest whose timers keep logging (the prepared entry is confirmed again until nothing was logged since)', async () => {
    const dir = await resources.dirFor('switchover-cron');
    const cron = join(ROOT, 'guest-programs/cron.js');
    const pair = await startPair(dir, { failureTimeoutMs: 1000, program: cron });
    resources.track(pair.primary);
    resources.track(pair.secondary);
    const shadow = await startShadow(cron, dir, pair.primary.logPort);
    await waitUntil(async () => ((await status(shadow.url))?.followedEntries ?? 0) >= 20, 15_000, 'shadow followed 20 entries');
    const before = JSON.parse((await request(pair.primary.url, { path: '/ticks' })).body) as { ticks: number };
    const result = await switchover(['--to', shadow.url, '--after-entries', '20', '--dir', dir]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect((await pair.primary.proc.exited).code).toBe(0);
    // The timer goes on in the new primary, from where the old one stopped.
    const ticks = async () => (JSON.parse((await request(shadow.url, { path: '/ticks' })).body) as { ticks: number }).ticks;
    const first = await ticks();
    expect(first).toBeGreaterThanOrEqual(before.ticks);
    await waitUntil(async () => (await ticks()) > first, 10_000, 'ticks go on');
  }, 90_000);

  it('refuses a target that is not a shadow (2), a shadow that saw a divergence (3), and K not reached (4)', async () => {
    const dir = await resources.dirFor('switchover-bad');
    const pair = await startPair(dir, { failureTimeoutMs: 1000 });
    resources.track(pair.primary);
    resources.track(pair.secondary);
    const good = await startShadow('counter-refactor.js', dir, pair.primary.logPort);
    await waitUntil(async () => (await status(pair.primary.url))?.shadow != null, 10_000, 'shadow attached');
    for (let i = 0; i < 3; i++) await increment(pair.primary.url, `b${i}`);
    await waitUntil(async () => ((await status(good.url))?.followedEntries ?? 0) > 0, 10_000, 'shadow following');

    const notShadow = await switchover(['--to', pair.secondary.url, '--after-entries', '1', '--dir', dir]);
    expect(notShadow.code).toBe(2);
    expect(notShadow.stderr).toMatch(/is not a shadow \(its role is secondary\).*\[LOCKSTEP_SWITCHOVER_NOT_SHADOW\]/s);

    const tooEarly = await switchover(['--to', good.url, '--after-entries', '100000', '--dir', dir]);
    expect(tooEarly.code).toBe(4);
    expect(tooEarly.stderr).toMatch(/fewer than the 100000 asked for .*\[LOCKSTEP_SWITCHOVER_TOO_EARLY\]/s);

    // Nothing changed for the pair; now a shadow whose program answers differently.
    expect((await status(pair.primary.url))!).toMatchObject({ protection: 'protected', switchover: 'idle' });
    await good.proc.kill();
    await waitUntil(async () => (await status(pair.primary.url))?.shadow === null, 10_000, 'first shadow gone');
    const changed = await startShadow('counter-changed.js', dir, pair.primary.logPort);
    await waitUntil(async () => (await status(pair.primary.url))?.shadow != null, 10_000, 'second shadow attached');
    for (let i = 3; i < 7; i++) await increment(pair.primary.url, `b${i}`);
    await waitUntil(async () => ((await status(changed.url))?.divergences ?? 0) > 0, 10_000, 'divergence seen');
    const diverged = await switchover(['--to', changed.url, '--after-entries', '0', '--dir', dir]);
    expect(diverged.code).toBe(3);
    expect(diverged.stderr).toMatch(/has seen \d+ divergences? \(the first: entry #\d+ POST \/increment: primary 200 \{"count":5\}.*\[LOCKSTEP_SWITCHOVER_DIVERGED\]/s);

    // A request without the pair's secret is refused by the shadow itself.
    const forged = await fetch(`${changed.url}/_lockstep/switchover`, { method: 'POST', body: JSON.stringify({ afterEntries: 0, nonce: 'ab', clientNonce: 'cd', proof: 'ef' }) });
    expect(forged.status).toBe(403);
    await sleep(100);
    expect((await status(pair.primary.url))!).toMatchObject({ protection: 'protected', switchover: 'idle' });
    expect((await increment(pair.primary.url, 'b-last')).status).toBe(200);
  }, 90_000);
});
