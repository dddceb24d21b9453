// A shadow secondary on real processes: it follows a protected pair under another program, reports
// the answers that differ (status, metric, timeline) and an input divergence (it stops following,
// status stays up), never changes the pair's protection or answers, and is refused with a clear
// error where the primary no longer holds the history from entry #1.
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { FIXTURES, startShadow as startShadowProc } from './shadow-helpers.js';
import { runLoad } from '../../src/client/load-client.js';
import { makeWorkload } from '../../src/client/workloads.js';
import { count, freePort, increment, Proc, request, ROOT, startPair, status, testResources, waitUntil, type StartedNode } from '../replication/helpers.js';

const resources = testResources();

const startShadow = async (...args: Parameters<typeof startShadowProc>): Promise<StartedNode> => resources.track(await startShadowProc(...args));

describe('lockstep secondary --shadow', () => {
  it('reports every differing answer with the entry and both answers, and never affects the pair', async () => {
    const dir = await resources.dirFor('shadow');
    const pair = await startPair(dir, { failureTimeoutMs: 1000 });
    resources.track(pair.primary);
    resources.track(pair.secondary);
    const shadow = await startShadow('counter-changed.js', dir, pair.primary.logPort);
    await waitUntil(async () => (await status(pair.primary.url))?.shadow != null, 10_000, 'shadow attached');
    const protection: string[] = [];
    const sampling = setInterval(() => void status(pair.primary.url).then((s) => s && protection.push(s.protection)), 50);
    const load = await runLoad({ targets: [pair.primary.url, pair.secondary.url], rate: 80, durationMs: 2500, concurrency: 4, workload: makeWorkload('counter'), seed: 23 });
    await waitUntil(async () => ((await status(shadow.url))?.answersCompared ?? 0) >= load.answered, 15_000, 'shadow compared every answer');
    const s = (await status(shadow.url))!;
    // counter-changed.js adds "milestone" from the 5th count on: every answer from there differs.
    expect(s.role).toBe('shadow');
    expect(s.state).toBe('following');
    expect(s.divergences).toBe(Math.max(0, load.answered - 4));
    expect(s.firstDivergence.kind).toBe('answer');
    expect(s.firstDivergence.recorded.body).toBe('{"count":5}');
    expect(s.firstDivergence.produced.body).toBe('{"count":5,"milestone":true}');
    expect(s.firstDivergence.line).toMatch(/^entry #\d+ POST \/increment: primary 200 \{"count":5\} \| new program 200/);
    expect(s.history.some((e: { event: string }) => e.event === 'shadow-divergence')).toBe(true);
    const metrics = await (await fetch(`${shadow.url}/_lockstep/metrics`)).text();
    expect(metrics).toMatch(new RegExp(`^lockstep_shadow_divergences_total ${s.divergences}$`, 'm'));
    // The pair: protected all along, nothing lost or answered twice, the count is the keys answered.
    expect(load.lost).toBe(0);
    expect(load.duplicates).toBe(0);
    expect(new Set(protection)).toEqual(new Set(['protected']));
    expect(await count(pair.primary.url)).toBe(load.answered);
    // Killing the shadow changes nothing for the pair.
    await shadow.proc.kill();
    await waitUntil(async () => (await status(pair.primary.url))?.shadow === null, 10_000, 'shadow detached');
    const after = (await status(pair.primary.url))!;
    expect(after.protection).toBe('protected');
    expect((await increment(pair.primary.url, 'after-shadow')).status).toBe(200);
    expect(await count(pair.primary.url)).toBe(load.answered + 1);
    clearInterval(sampling);
    expect(new Set(protection)).toEqual(new Set(['protected']));
  }, 60_000);

  it('the pair answers the same, and is protected the same, with a shadow as without', async () => {
    const kv = join(ROOT, 'guest-programs/kv.js');
    const runs = [];
    for (const withShadow of [true, false]) {
      const dir = await resources.dirFor(withShadow ? 'with-shadow' : 'without-shadow');
      const pair = await startPair(dir, { failureTimeoutMs: 1000, program: kv });
      resources.track(pair.primary);
      resources.track(pair.secondary);
      // The same program: a shadow of the same version (no divergence expected either).
      let shadowProc: Proc | undefined;
      if (withShadow) {
        const port = await freePort();
        const proc = (shadowProc = new Proc('shadow kv', ['secondary', kv, '--shadow', '--port', String(port), '--primary', `ws://127.0.0.1:${pair.primary.logPort}`, '--dir', dir]));
        resources.track({ proc, port, host: '', logPort: 0, url: '' });
        await proc.waitFor(/shadow of .* on http/, 15_000);
        await waitUntil(async () => (await status(pair.primary.url))?.shadow != null, 10_000, 'shadow attached');
      }
      const protection = new Set<string>();
      const sampling = setInterval(() => void status(pair.primary.url).then((s) => s && protection.add(s.protection)), 50);
      // The same requests one at a time: the answers depend only on them.
      const answers: Array<[number, string]> = [];
      for (let i = 0; i < 30; i++) {
        const key = `k${i % 4}`;
        const answer = i % 3 === 2 ? await request(pair.primary.url, { path: `/kv/${key}` }) : await request(pair.primary.url, { method: 'PUT', path: `/kv/${key}`, body: `v${i}`, headers: { 'idempotency-key': `same-${i}` } });
        answers.push([answer.status, answer.body]);
      }
      clearInterval(sampling);
      runs.push({ answers, protection });
      if (withShadow) {
        // A planned stop of its primary: the shadow is told, and stops too (it never goes live on a stop).
        pair.primary.proc.child.kill('SIGTERM');
        expect((await shadowProc!.exited).code).toBe(0);
        expect(shadowProc!.stderr).toMatch(/the primary stopped on purpose .* a shadow never goes live on a stop/);
      }
    }
    const [withShadow, without] = runs;
    expect(withShadow.answers).toEqual(without.answers);
    expect(withShadow.protection).toEqual(new Set(['protected']));
    expect(without.protection).toEqual(new Set(['protected']));
  }, 90_000);

  it('follows the secondary that went live after its primary failed (it never takes over itself)', async () => {
    const dir = await resources.dirFor('shadow-failover');
    const pair = await startPair(dir, { failureTimeoutMs: 1000 });
    resources.track(pair.primary);
    resources.track(pair.secondary);
    const shadow = await startShadow('counter-refactor.js', dir, pair.primary.logPort);
    await waitUntil(async () => (await status(pair.primary.url))?.shadow != null, 10_000, 'shadow attached');
    for (let i = 0; i < 5; i++) await increment(pair.primary.url, `f${i}`);
    await waitUntil(async () => (await status(shadow.url))?.answersCompared === 5, 10_000, 'five answers compared');
    await pair.primary.proc.kill();
    await waitUntil(async () => (await status(pair.secondary.url))?.role === 'primary', 15_000, 'the secondary live');
    await waitUntil(async () => (await status(shadow.url))?.connected === true && (await status(shadow.url))?.primary === `ws://127.0.0.1:${pair.secondary.logPort}`, 15_000, 'the shadow follows the new primary');
    for (let i = 5; i < 8; i++) await increment(pair.secondary.url, `f${i}`);
    await waitUntil(async () => (await status(shadow.url))?.answersCompared === 8, 10_000, 'answers of the new primary compared');
    expect((await status(shadow.url))!).toMatchObject({ role: 'shadow', state: 'following', divergences: 0, epoch: 1 });
    expect((await status(pair.secondary.url))!.shadow).not.toBeNull();
    // A switchover from the promoted secondary: it hands over too, and stops (exit 0).
    const switched = new Proc('switchover', ['switchover', '--to', shadow.url, '--after-entries', '1', '--dir', dir]);
    expect((await switched.exited).code).toBe(0);
    expect((await pair.secondary.proc.exited).code).toBe(0);
    expect(pair.secondary.proc.stderr).toMatch(/handed over to the shadow .*: this node stops \(exit 0\)/);
    expect((await status(shadow.url))!).toMatchObject({ role: 'primary', epoch: 2 });
    expect(await count(shadow.url)).toBe(8);
  }, 60_000);

  it('stops following at an input divergence (an extra clock read) with a clear status, not a crash', async () => {
    const dir = await resources.dirFor('shadow-input');
    const pair = await startPair(dir, { failureTimeoutMs: 1000 });
    resources.track(pair.primary);
    resources.track(pair.secondary);
    const shadow = await startShadow('counter-clock.js', dir, pair.primary.logPort);
    for (let i = 0; i < 5; i++) await increment(pair.primary.url, `k${i}`);
    await fetch(`${pair.primary.url}/count`); // counter-clock.js reads the clock once more here
    await waitUntil(async () => (await status(shadow.url))?.state === 'diverged-input', 15_000, 'input divergence');
    const s = (await status(shadow.url))!;
    expect(s.canGoOn).toBe(false);
    expect(s.divergences).toBe(1);
    expect(s.firstDivergence).toMatchObject({ kind: 'input', canGoOn: false, programAsked: 'value now (a clock read)' });
    expect(s.firstDivergence.seq).toBeGreaterThan(1);
    expect(s.firstDivergence.request).toMatchObject({ method: 'GET', path: '/count' });
    expect(s.stoppedReason).toMatch(/cannot replay past a consumption mismatch/);
    expect(shadow.proc.exit).toBeUndefined(); // still answering status
    // The pair goes on, protected.
    await waitUntil(async () => (await status(pair.primary.url))?.shadow === null, 10_000, 'shadow gone from the primary');
    expect((await status(pair.primary.url))!.protection).toBe('protected');
    expect((await increment(pair.primary.url, 'k-after')).status).toBe(200);
  }, 60_000);

  it('is refused (LOCKSTEP_SHADOW_NO_HISTORY, exit 4) once the log starts at a checkpoint, and starts from a recording a shadow made', async () => {
    const dir = await resources.dirFor('shadow-history');
    const pair = await startPair(dir, { failureTimeoutMs: 1000, primaryExtra: ['--checkpoint-every-entries', '25'], secondaryExtra: ['--checkpoint-every-entries', '25'] });
    resources.track(pair.primary);
    resources.track(pair.secondary);
    const recording = join(dir, 'shadow.log');
    const recorder = await startShadow('counter-refactor.js', dir, pair.primary.logPort, ['--record', recording]);
    await waitUntil(async () => (await status(pair.primary.url))?.shadow != null, 10_000, 'recording shadow attached');
    for (let i = 0; i < 12; i++) await increment(pair.primary.url, `h${i}`);
    await waitUntil(async () => (await status(recorder.url))?.answersCompared === 12, 10_000, 'recorder compared 12 answers');
    recorder.proc.child.kill('SIGTERM');
    expect((await recorder.proc.exited).code).toBe(0);
    // The recording is the pair's history with the answers the primary released: upgrade-check reads it.
    const same = new Proc('upgrade-check', ['upgrade-check', recording, join(FIXTURES, 'counter-refactor.js')]);
    expect((await same.exited).code).toBe(0);
    expect(same.stdout).toMatch(/12 answers compared .* OK/);
    const changed = new Proc('upgrade-check', ['upgrade-check', recording, join(FIXTURES, 'counter-changed.js')]);
    expect((await changed.exited).code).toBe(3);

    await fetch(`${pair.primary.url}/count`); // an event after the shadow left: the log the checkpoint covers is dropped
    await waitUntil(async () => ((await status(pair.primary.url))?.retainedFrom ?? 1) > 1, 10_000, 'log cut at a checkpoint');
    const port = await freePort();
    const refusedProc = new Proc('shadow', ['secondary', join(FIXTURES, 'counter-refactor.js'), '--shadow', '--port', String(port), '--primary', `ws://127.0.0.1:${pair.primary.logPort}`, '--dir', dir]);
    resources.track({ proc: refusedProc, port, host: '', logPort: 0, url: '' });
    expect((await refusedProc.exited).code).toBe(4);
    expect(refusedProc.stderr).toMatch(/LOCKSTEP_SHADOW_NO_HISTORY/);
    expect(refusedProc.stderr).toMatch(/--from-recording/);

    const resumed = await startShadow('counter-refactor.js', dir, pair.primary.logPort, ['--from-recording', recording]);
    await waitUntil(async () => (await status(pair.primary.url))?.shadow != null, 10_000, 'resumed shadow attached'); // answers released before are not sent to it
    for (let i = 12; i < 15; i++) await increment(pair.primary.url, `h${i}`);
    await waitUntil(async () => (await status(resumed.url))?.answersCompared === 15, 10_000, 'recorded and live answers compared');
    expect((await status(resumed.url))!).toMatchObject({ state: 'following', divergences: 0 });
    expect((await status(pair.primary.url))!.protection).toBe('protected');
  }, 90_000);
});
