// Two nodes with nothing shared on disk: each its own --dir, one secret file copied to both
// (`lockstep secret --out`), epochs in a real etcd. The secondary keeps its own replica of the
// guest's files: it is given them when it attaches (after a checkpoint, here) and performs every
// logged write on its own disk. Checked end to end with real processes and SIGKILL:
//   1. the primary is killed under keyed writes: the secondary goes live and its OWN directory holds
//      every acknowledged write (a planned stop and a fresh start on that directory still has them);
//   2. the killed primary, restarted with its original command on its own directory, joins the
//      survivor, receives the files, and when the survivor is killed goes live with every write too;
//   3. bad input: a secret file missing or different on the two nodes, another pair started on the same
//      prefix, a secondary on another prefix than its primary, the guest's files past --replica-bytes-max: each a clear error, nothing served by the newcomer.
import { randomBytes } from 'node:crypto';
import { copyFile, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, Proc, request, ROOT, sleep, startPrimary, startSecondary, status, testResources, waitUntil, type StartedNode } from './helpers.js';
import { startEtcd } from './etcd-server.js';

const etcd = await startEtcd();
const up = 'url' in etcd ? etcd : undefined;
afterAll(async () => {
  await up?.stop();
});
const { dirFor, track } = testResources();

const KV = join(ROOT, 'guest-programs/kv.js');
const TIMING = { heartbeatMs: 50, failureTimeoutMs: 1000 };

async function put(url: string, key: string, value: string): Promise<number> {
  const answer = await request(url, { method: 'PUT', path: `/kv/${key}`, body: value, headers: { 'idempotency-key': `put-${key}` }, timeoutMs: 3000 });
  return answer.status;
}

/** Puts `key` on whichever node answers 201 first (a failover-aware client). */
async function putSomewhere(nodes: StartedNode[], key: string, value: string, deadlineMs: number): Promise<void> {
  for (let attempt = 0; Date.now() < deadlineMs; attempt++) {
    try {
      if ((await put(nodes[attempt % nodes.length].url, key, value)) === 201) return;
    } catch {
      /* dead or not live yet */
    }
    await sleep(20);
  }
  throw new Error(`no node took ${key} in time`);
}

async function valueOf(url: string, key: string): Promise<string | undefined> {
  const answer = await request(url, { path: `/kv/${key}`, timeoutMs: 3000 });
  return answer.status === 200 ? answer.body : undefined;
}

/** The killed primary's original command again; it joins the survivor, so it prints no "serving" line. */
async function startRestarted(dir: string, logPort: number, extra: string[]): Promise<StartedNode> {
  const port = await freePort();
  const proc = new Proc('restarted', ['primary', KV, '--host', '127.0.0.1', '--port', String(port), '--log-listen', `127.0.0.1:${logPort}`, '--dir', dir,
    '--heartbeat-ms', String(TIMING.heartbeatMs), '--failure-timeout-ms', String(TIMING.failureTimeoutMs), ...extra]);
  await proc.waitFor(/secondary of .* on http/, 20_000);
  return { proc, port, host: '127.0.0.1', logPort, url: `http://127.0.0.1:${port}` };
}

/** `lockstep secret --out PATH` (a real process), then the file is copied to the other node's side. */
async function secretFiles(dirA: string, dirB: string): Promise<[string, string]> {
  const a = join(dirA, '..', `${randomBytes(4).toString('hex')}-a.secret`);
  const b = join(dirB, '..', `${randomBytes(4).toString('hex')}-b.secret`);
  const proc = new Proc('secret', ['secret', '--out', a]);
  expect((await proc.waitExit()).code).toBe(0);
  await copyFile(a, b);
  return [a, b];
}

describe.skipIf(!up)('two nodes with nothing shared on disk (etcd, own --dir, --secret-file)', () => {
  it('the survivor holds every acknowledged write on its own disk, and so does the restarted node after the next failover', { timeout: 150_000 }, async () => {
    const [dirA, dirB] = [await dirFor('own-a'), await dirFor('own-b')];
    const [secretA, secretB] = await secretFiles(dirA, dirB);
    const prefix = `own-${randomBytes(4).toString('hex')}`;
    const arbiter = ['--arbiter', up!.url, '--arbiter-prefix', prefix, '--checkpoint-every-entries', '40'];
    const argsA = [...arbiter, '--secret-file', secretA];
    const argsB = [...arbiter, '--secret-file', secretB];
    const logPortA = await freePort();
    const primary = track(await startPrimary({ ...TIMING, program: KV, dir: dirA, logPort: logPortA, extra: argsA }));
    const written = new Map<string, string>();
    // Writes before the secondary exists: it must get them as files (with a checkpoint), not as log.
    for (let i = 0; i < 30; i++) {
      const value = `early-${i}-${randomBytes(3).toString('hex')}`;
      expect(await put(primary.url, `k${i}`, value)).toBe(201);
      written.set(`k${i}`, value);
    }
    const secondary = track(await startSecondary({ ...TIMING, program: KV, dir: dirB, extra: argsB, primaryUrl: `ws://127.0.0.1:${logPortA}` }));
    await waitUntil(async () => (await status(primary.url))?.protection === 'protected', 30_000, 'primary protected');
    await secondary.proc.waitFor(/received the primary's guest files/);

    // Keyed writes; the primary is SIGKILLed in the middle of them.
    const deadline = Date.now() + 60_000;
    for (let i = 30; i < 90; i++) {
      if (i === 60) primary.proc.signal('SIGKILL');
      const value = `v-${i}-${randomBytes(3).toString('hex')}`;
      await putSomewhere([primary, secondary], `k${i}`, value, deadline);
      written.set(`k${i}`, value);
    }
    await waitUntil(async () => (await status(secondary.url))?.role === 'primary', 30_000, 'secondary live');
    for (const [key, value] of written) expect(await valueOf(secondary.url, key), key).toBe(value);
    // The survivor's files are its own: <dirB>/data is its epoch's directory, with every write in it.
    expect(await readlink(join(dirB, 'data'))).toMatch(/^epochs\/1$/);
    const storedB = await readFile(join(dirB, 'data/.lockstep/storage.json'), 'utf8');
    for (const value of written.values()) expect(storedB).toContain(value);

    // 2. The killed primary comes back with its original command: it joins the survivor through etcd.
    const restarted = track(await startRestarted(dirA, logPortA, argsA));
    await restarted.proc.waitFor(/joining it as its secondary/, 20_000);
    await restarted.proc.waitFor(/received the primary's guest files/, 30_000);
    await waitUntil(async () => (await status(secondary.url))?.protection === 'protected', 30_000, 'survivor protected again');
    for (let i = 90; i < 110; i++) {
      const value = `late-${i}`;
      expect(await put(secondary.url, `k${i}`, value)).toBe(201);
      written.set(`k${i}`, value);
    }
    secondary.proc.signal('SIGKILL');
    await waitUntil(async () => (await status(restarted.url))?.role === 'primary', 30_000, 'restarted node live');
    for (const [key, value] of written) expect(await valueOf(restarted.url, key), key).toBe(value);

    // A planned stop, then a fresh start on the same directory: the guest boots from the files alone.
    restarted.proc.signal('SIGTERM');
    expect((await restarted.proc.waitExit(15_000)).code).toBe(0);
    const again = track(await startPrimary({ ...TIMING, program: KV, dir: dirA, extra: argsA, name: 'again' }));
    for (const [key, value] of written) expect(await valueOf(again.url, key), key).toBe(value);
  });

  it('a missing or different secret file, another pair on the prefix, a secondary on another prefix, files past the bound: clear errors, nothing served by the newcomer', { timeout: 60_000 }, async () => {
    const [dirA, dirB] = [await dirFor('own-bad-a'), await dirFor('own-bad-b')];
    const prefix = `bad-${randomBytes(4).toString('hex')}`;
    const arbiter = ['--arbiter', up!.url, '--arbiter-prefix', prefix];
    const missing = new Proc('missing', ['primary', KV, '--port', String(await freePort()), '--dir', dirA, ...arbiter, '--secret-file', join(dirA, 'nope.secret')]);
    const exit = await missing.waitExit();
    expect(exit.code).not.toBe(0);
    expect(missing.stderr).toMatch(/LOCKSTEP_CHANNEL_SECRET|nope\.secret: does not exist; make one with `lockstep secret --out PATH`/);

    const [secretA] = await secretFiles(dirA, dirB);
    const otherB = join(dirB, '..', `${randomBytes(4).toString('hex')}-other.secret`);
    expect((await new Proc('secret2', ['secret', '--out', otherB]).waitExit()).code).toBe(0);
    const logPort = await freePort();
    const primary = track(await startPrimary({ ...TIMING, program: KV, dir: dirA, logPort, extra: [...arbiter, '--secret-file', secretA] }));
    const wrong = new Proc('wrong-secret', ['secondary', KV, '--port', String(await freePort()), '--dir', dirB, '--primary', `ws://127.0.0.1:${logPort}`, ...arbiter, '--secret-file', otherB]);
    const wrongExit = await wrong.waitExit(20_000);
    expect(wrongExit.code).toBe(1);
    expect(wrong.stderr).toMatch(/same secret: the same --secret-file.*LOCKSTEP_CHANNEL_AUTH/s);
    expect((await status(primary.url))?.protection).toBe('unprotected');

    // Another pair (another program) started on the same prefix finds this pair's owner and is refused: a clear error, nothing served.
    const intruder = new Proc('other-pair', ['primary', join(ROOT, 'guest-programs/counter.js'), '--port', String(await freePort()), '--log-listen', `127.0.0.1:${await freePort()}`, '--dir', await dirFor('own-other'), ...arbiter, '--secret-file', secretA]);
    expect((await intruder.waitExit(20_000)).code).toBe(1);
    expect(intruder.stderr).toMatch(/LOCKSTEP_CHANNEL_INCOMPATIBLE.*give each pair its own --arbiter-prefix \(this one uses 'bad-/s);
    expect(intruder.stderr).not.toMatch(/serving counter\.js/);
    expect((await status(primary.url))?.role).toBe('primary');

    // A secondary given another prefix than its primary could never take over: it says so at once.
    const elsewhere = new Proc('wrong-prefix', ['secondary', KV, '--port', String(await freePort()), '--dir', await dirFor('own-prefix'), '--primary', `ws://127.0.0.1:${logPort}`, '--arbiter', up!.url, '--arbiter-prefix', `${prefix}-elsewhere`, '--secret-file', secretA]);
    expect((await elsewhere.waitExit(20_000)).code).toBe(2);
    expect(elsewhere.stderr).toMatch(/is in epoch 0, but etcd .* knows epochs up to -1 only.*same --arbiter and --arbiter-prefix/);

    // Past --replica-bytes-max: the attach fails with a message naming the flag; the primary serves on.
    const dirC = await dirFor('own-bound');
    const boundLogPort = await freePort();
    const bounded = track(await startPrimary({ ...TIMING, program: KV, dir: dirC, logPort: boundLogPort, extra: [...arbiter, '--arbiter-prefix', `${prefix}-b`, '--secret-file', secretA, '--replica-bytes-max', '2048'] }));
    expect(await put(bounded.url, 'big', 'x'.repeat(4096))).toBe(201);
    const follower = new Proc('bounded-secondary', ['secondary', KV, '--port', String(await freePort()), '--dir', await dirFor('own-bound-b'), '--primary', `ws://127.0.0.1:${boundLogPort}`, ...arbiter, '--arbiter-prefix', `${prefix}-b`, '--secret-file', secretA]);
    expect((await follower.waitExit(20_000)).code).toBe(1);
    expect(follower.stderr).toMatch(/cannot send its guest files: the guest's files take more than 2048 bytes.*--replica-bytes-max/);
    expect(await valueOf(bounded.url, 'big')).toBe('x'.repeat(4096));
  });
});
