// Regression tests for issue 8 ("nothing lost, nothing forked"), each with real processes and the
// real fault: a secondary attaching to a primary with history, a restarted primary, a kill during
// catch-up, a frozen primary, a retry of an answer released while alone, a fenced promoted node,
// a corrupted log, and a deposed primary's late disk write.
import { mkdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  add, claimFiles, COUNTER, count, increment, LEDGER, ledgerCount, Proc, request, sleep, slowProxyTo, startPrimary, startSecondary,
  status, testResources, waitUntil, type HttpAnswer, type StartedNode,
} from './helpers.js';

const { closers, dirFor, track } = testResources();

const TIMING = { heartbeatMs: 50, failureTimeoutMs: 1000 };
const KB = 1024;

describe('nothing lost, nothing forked', () => {
  it('a secondary attaching to a primary with a large history catches up in bounded frames, without a false failover', async () => {
    const dir = await dirFor('history');
    const primary = track(await startPrimary({ ...TIMING, dir, program: LEDGER }));
    // 24 bodies of 900 KB: one batch of them would exceed the 16 MiB frame limit.
    const body = 'x'.repeat(900 * KB);
    for (let i = 0; i < 24; i++) expect((await add(primary.url, `big-${i}`, body, 10_000)).status).toBe(200);
    for (let i = 0; i < 2000; i++) expect((await add(primary.url, `small-${i}`)).status).toBe(200);
    const secondary = track(await startSecondary({ ...TIMING, dir, program: LEDGER, primaryUrl: `ws://127.0.0.1:${primary.logPort}` }));
    await waitUntil(async () => (await status(primary.url))?.protection === 'protected', 30_000, 'primary protected after catch-up');
    expect(primary.proc.alive).toBe(true);
    expect(primary.proc.stderr + secondary.proc.stderr).not.toMatch(/claiming epoch|FENCED|LIVE/);
    // Protected means the whole history is held: a kill now loses nothing.
    await primary.proc.kill();
    await waitUntil(async () => (await status(secondary.url))?.role === 'primary', 15_000, 'secondary live');
    expect(await ledgerCount(secondary.url)).toBe(2024);
  });

  it('a secondary killed out of its primary during catch-up never goes live on the prefix it holds', async () => {
    const dir = await dirFor('catch-up');
    // Without checkpoints, so the catch-up replays the whole log and takes long enough to be caught in
    // the middle (with them, a fresh secondary gets the newest checkpoint and is caught up at once).
    const noCheckpoints = ['--checkpoint-every-entries', '0', '--checkpoint-every-bytes', '0', '--checkpoint-every-ms', '0'];
    const primary = track(await startPrimary({ ...TIMING, dir, program: LEDGER, extra: noCheckpoints }));
    const body = 'y'.repeat(512 * KB);
    for (let i = 0; i < 80; i++) expect((await add(primary.url, `k-${i}`, body, 10_000)).status).toBe(200);
    const secondary = track(await startSecondary({ ...TIMING, dir, program: LEDGER, primaryUrl: `ws://127.0.0.1:${primary.logPort}` }));
    // Freeze the secondary in the middle of its catch-up, then kill the primary under it.
    await waitUntil(async () => {
      const s = await status(secondary.url, 200);
      return !!s && s.receivedSeq > 1 && s.caughtUp === false;
    }, 20_000, 'secondary part-way through catch-up', 5);
    secondary.proc.signal('SIGSTOP');
    const held = (await status(primary.url))?.ackedSeq as number;
    await primary.proc.kill();
    secondary.proc.signal('SIGCONT');
    await secondary.proc.waitFor(/must not take over/, 10_000);
    await sleep(500);
    const s = await status(secondary.url);
    expect(s?.role).toBe('secondary');
    expect(s?.caughtUp).toBe(false);
    expect(held).toBeLessThan(80 * 2);
    expect((await add(secondary.url, 'after')).status).toBe(503);
    expect(secondary.proc.stderr).not.toMatch(/LIVE as primary/);
    expect(await claimFiles(dir)).toEqual(['epoch-0']);
  });

  it('a primary restarted with its original command joins the survivor as its secondary instead of forking', async () => {
    const dir = await dirFor('restart');
    const primary = track(await startPrimary({ ...TIMING, dir, program: LEDGER }));
    const secondary = track(await startSecondary({ ...TIMING, dir, program: LEDGER, primaryUrl: `ws://127.0.0.1:${primary.logPort}` }));
    await waitUntil(async () => (await status(primary.url))?.protection === 'protected', 15_000, 'protected');
    for (let i = 0; i < 5; i++) expect((await add(primary.url, `before-${i}`)).status).toBe(200);
    await primary.proc.kill();
    await waitUntil(async () => (await status(secondary.url))?.role === 'primary', 10_000, 'survivor live');
    // What a supervisor does: the very same command line, the same --dir and ports.
    const restarted = track({ ...primary, proc: new Proc('restarted-primary', primary.proc.args) });
    await restarted.proc.waitFor(/joining it as its secondary/, 15_000);
    await waitUntil(async () => (await status(secondary.url))?.protection === 'protected', 20_000, 'survivor protected by the restarted node');
    const r = await add(restarted.url, 'to-the-restarted');
    expect(r.status).toBe(503);
    expect((await status(restarted.url))?.role).toBe('secondary');
    const answer = await add(secondary.url, 'after-restart');
    expect(JSON.parse(answer.body).n).toBe(6);
    // And it can take over in turn, with everything.
    await secondary.proc.kill();
    await waitUntil(async () => (await status(restarted.url))?.role === 'primary', 10_000, 'restarted node live');
    expect(await ledgerCount(restarted.url)).toBe(6);
  });

  it('the log kept for late secondaries is bounded in bytes: past it a fresh secondary is refused clearly and the primary serves on', async () => {
    const dir = await dirFor('retained-bound');
    const primary = track(await startPrimary({ ...TIMING, dir, program: LEDGER, extra: ['--retained-bytes-max', String(200 * KB)] }));
    const body = 'r'.repeat(KB);
    for (let i = 0; i < 400; i++) expect((await add(primary.url, `r-${i}`, body)).status).toBe(200);
    const s = await status(primary.url);
    expect(s?.retainedFrom).toBeGreaterThan(1);
    const late = track(await startSecondary({ ...TIMING, dir, program: LEDGER, primaryUrl: `ws://127.0.0.1:${primary.logPort}`, name: 'late' }));
    await late.proc.waitFor(/LOCKSTEP_CHANNEL_HISTORY/, 10_000);
    expect((await late.proc.waitExit(10_000)).code).not.toBe(0);
    expect((await add(primary.url, 'after')).status).toBe(200);
    expect(await ledgerCount(primary.url)).toBe(401);
    expect((await status(primary.url))?.protection).toBe('unprotected');
  });

  it('answers released while the primary was alone are served at once to a retry after a secondary attached', async () => {
    const dir = await dirFor('alone-retry');
    const primary = track(await startPrimary({ ...TIMING, dir, program: LEDGER }));
    const first = await add(primary.url, 'k-alone');
    expect(first.status).toBe(200);
    track(await startSecondary({ ...TIMING, dir, program: LEDGER, primaryUrl: `ws://127.0.0.1:${primary.logPort}` }));
    await waitUntil(async () => (await status(primary.url))?.protection === 'protected', 15_000, 'protected');
    const retry = await add(primary.url, 'k-alone', '', 1500);
    expect(retry.status).toBe(200);
    expect(retry.body).toBe(first.body);
    expect((await status(primary.url))?.outputsWaiting).toBe(0);
  });

  it('a frozen primary releases nothing once it resumes after its successor took over (the lease)', async () => {
    const dir = await dirFor('lease');
    const timing = { heartbeatMs: 50, failureTimeoutMs: 600 };
    const primary = track(await startPrimary({ ...timing, dir, program: LEDGER }));
    // Acks cross a slow link, so they can sit in the primary's socket while it is frozen.
    const proxy = await slowProxyTo(primary.logPort, 60);
    closers.push(() => proxy.close());
    const secondary = track(await startSecondary({ ...timing, dir, program: LEDGER, primaryUrl: `ws://127.0.0.1:${proxy.port}` }));
    await waitUntil(async () => (await status(primary.url))?.protection === 'protected', 15_000, 'protected');
    for (let i = 0; i < 3; i++) expect((await add(primary.url, `warm-${i}`)).status).toBe(200);
    const answeredAt: Array<{ answer: HttpAnswer | Error; atMs: number }> = [];
    const pending = Array.from({ length: 20 }, (_, i) =>
      add(primary.url, `frozen-${i}`, '', 8000).then(
        (answer) => answeredAt.push({ answer, atMs: Date.now() }),
        (error: Error) => answeredAt.push({ answer: error, atMs: Date.now() }),
      ),
    );
    await sleep(25); // the requests are logged and shipped; their acks are on the slow link
    primary.proc.signal('SIGSTOP');
    await waitUntil(async () => (await status(secondary.url))?.role === 'primary', 10_000, 'successor live');
    const resumedAt = Date.now();
    primary.proc.signal('SIGCONT');
    await Promise.all(pending);
    const late = answeredAt.filter((a) => !(a.answer instanceof Error) && a.answer.status === 200 && a.atMs >= resumedAt);
    expect(late.map((a) => (a.answer as HttpAnswer).body)).toEqual([]);
    // The old primary learns it lost (its claim for epoch 1 fails); it follows the successor from then on.
    await primary.proc.waitFor(/FENCED: lost the claim for epoch 1/, 10_000);
  });

  it('a promoted secondary that loses a claim stops: closes its ports and exits 10 (--no-rejoin)', async () => {
    const dir = await dirFor('fenced-promoted');
    const primary = track(await startPrimary({ ...TIMING, dir, program: LEDGER }));
    const secondary = track(await startSecondary({ ...TIMING, dir, program: LEDGER, primaryUrl: `ws://127.0.0.1:${primary.logPort}`, extra: ['--no-rejoin'] }));
    await waitUntil(async () => (await status(primary.url))?.protection === 'protected', 15_000, 'protected');
    await primary.proc.kill();
    await waitUntil(async () => (await status(secondary.url))?.role === 'primary', 10_000, 'promoted');
    const fresh = track(await startSecondary({ ...TIMING, dir, program: LEDGER, primaryUrl: `ws://127.0.0.1:${secondary.logPort}`, name: 'fresh' }));
    await waitUntil(async () => (await status(secondary.url))?.protection === 'protected', 15_000, 'promoted node protected');
    // Someone else won epoch 2 (as the fresh secondary would in a partition); then the promoted node sees its secondary fail.
    await mkdir(join(dir, 'claims'), { recursive: true });
    await writeFile(join(dir, 'claims', 'epoch-2'), JSON.stringify({ nodeId: 'other', who: 'test', pid: 0, host: 'test', atMs: Date.now() }));
    fresh.proc.signal('SIGSTOP');
    const exit = await secondary.proc.waitExit(10_000);
    expect(exit.code).toBe(10);
    await secondary.proc.waitFor(/FENCED: lost the claim for epoch 2/);
    await expect(request(`http://127.0.0.1:${secondary.logPort}`, { timeoutMs: 500 })).rejects.toThrow();
  });

  it('a secondary whose replay diverges stops for good (exit 3) and never goes live; the primary goes on', async () => {
    const dir = await dirFor('diverge');
    const primary = track(await startPrimary({ ...TIMING, dir, program: LEDGER }));
    // Fault injection: the secondary corrupts every check digest it receives, as a damaged log would be.
    const secondary = track(await startSecondary({ ...TIMING, dir, program: LEDGER, primaryUrl: `ws://127.0.0.1:${primary.logPort}`, env: { LOCKSTEP_FAULT_CORRUPT_CHECKS: '1' } }));
    await waitUntil(async () => (await status(primary.url))?.protection === 'protected', 15_000, 'protected');
    const answers = await Promise.all(Array.from({ length: 80 }, (_, i) => add(primary.url, `d-${i}`, '', 8000).catch((e: Error) => e)));
    expect((await secondary.proc.waitExit(10_000)).code).toBe(3);
    expect(secondary.proc.stderr).toMatch(/DIVERGED: Replay diverged at entry #\d+/);
    expect(secondary.proc.stderr).not.toMatch(/LIVE as primary|claiming epoch/);
    await waitUntil(async () => (await status(primary.url))?.protection === 'unprotected', 10_000, 'primary alone');
    expect(answers.filter((a) => a instanceof Error || a.status !== 200)).toEqual([]);
    expect(await ledgerCount(primary.url)).toBe(80);
  });

  it("a deposed primary's late disk writes cannot roll back the survivor's files (epoch directories)", async () => {
    const dir = await dirFor('fencing');
    const primary = track(await startPrimary({ ...TIMING, dir, program: COUNTER }));
    const secondary = track(await startSecondary({ ...TIMING, dir, program: COUNTER, primaryUrl: `ws://127.0.0.1:${primary.logPort}` }));
    await waitUntil(async () => (await status(primary.url))?.protection === 'protected', 15_000, 'protected');
    for (let i = 0; i < 5; i++) expect((await increment(primary.url, `a-${i}`)).status).toBe(200);
    // Freeze the primary with writes of its own in flight.
    const inFlight = Array.from({ length: 5 }, (_, i) => increment(primary.url, `b-${i}`, 8000).catch((e: Error) => e));
    await sleep(3);
    primary.proc.signal('SIGSTOP');
    await waitUntil(async () => (await status(secondary.url))?.role === 'primary', 10_000, 'survivor live');
    for (let i = 0; i < 20; i++) expect((await increment(secondary.url, `c-${i}`)).status).toBe(200);
    const survivorCount = await count(secondary.url);
    primary.proc.signal('SIGCONT');
    await Promise.all(inFlight);
    await primary.proc.waitFor(/FENCED: lost the claim for epoch 1/, 10_000);
    await sleep(300);
    expect(await readlink(join(dir, 'data'))).toBe(join('epochs', '1'));
    const onDisk = JSON.parse(await readFile(join(dir, 'data', 'counter.json'), 'utf8')) as { count: number };
    expect(onDisk.count).toBe(survivorCount);
  });

  it('a primary whose guest fails to load releases the epoch it claimed, so the next start serves instead of being refused', async () => {
    const dir = await dirFor('load-fails');
    const broken = join(dir, 'broken.js');
    await writeFile(broken, 'export default { fetch() { return "ok" } ;\n'); // a syntax error: found only when the guest boots
    const failed = track({ proc: new Proc('broken', ['primary', broken, '--port', '0', '--log-listen', '127.0.0.1:0', '--dir', dir]) } as StartedNode);
    expect((await failed.proc.exited).code).toBe(5);
    const primary = track(await startPrimary({ ...TIMING, dir }));
    expect((await increment(primary.url, 'after')).status).toBe(200);
    expect(primary.proc.stderr).not.toMatch(/LOCKSTEP_EPOCH_OWNED/);
  });
});
