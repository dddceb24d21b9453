// Issue 20, item 7: every failed start exits non-zero and releases what it took. A primary whose HTTP
// port was taken printed LOCKSTEP_ADDRESS_IN_USE and stayed up, holding its epoch claim and its
// logging channel, so a secondary attached to it and the pair looked "protected" serving no one.
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { claimFiles, count, COUNTER, freePort, increment, Proc, ROOT, startPrimary, startSecondary, status, testResources, waitUntil } from './helpers.js';

const { closers, dirFor, track } = testResources();
const BOOT_EFFECTS = join(ROOT, 'test/fixtures/guests/boot-effects.js');

/** Holds a port, as another process would. */
async function takePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  closers.push(() => server.close());
  return (server.address() as net.AddressInfo).port;
}

/** Resolves true if the port can be bound now (nothing holds it any more). */
async function portFree(port: number): Promise<boolean> {
  const server = net.createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

async function failedStart(name: string, args: string[]): Promise<Proc> {
  const proc = new Proc(name, args);
  const exit = await proc.waitExit(20_000).catch(async (error) => {
    await proc.kill();
    throw error;
  });
  expect(exit.code, proc.stderr).not.toBe(0);
  expect(exit.code).not.toBeNull();
  expect(proc.stderr).toMatch(/LOCKSTEP_ADDRESS_IN_USE/);
  expect(proc.stderr).not.toMatch(/invariant broken|Error: .*\n\s+at /); // an exit, not a crash after it
  return proc;
}

describe('a start that fails', () => {
  it('primary with its HTTP port taken: exits non-zero, frees its logging port and releases its epoch', { timeout: 60_000 }, async () => {
    const dir = await dirFor('failed-primary');
    const taken = await takePort();
    const logPort = await freePort();
    await failedStart('primary', ['primary', COUNTER, '--port', String(taken), '--log-listen', `127.0.0.1:${logPort}`, '--dir', dir]);
    expect(await portFree(logPort)).toBe(true);
    expect(await claimFiles(dir)).toEqual(['epoch-0']);
    expect(JSON.parse(await readFile(join(dir, 'claims/epoch-0'), 'utf8')).releasedAtMs).toEqual(expect.any(Number));
    // The next start on the directory is not refused as if a live owner held it.
    const next = track(await startPrimary({ dir, logPort }));
    expect(next.proc.alive).toBe(true);
  });

  it('primary with its logging port taken, run and secondary with their HTTP port taken: each exits non-zero', { timeout: 60_000 }, async () => {
    const taken = await takePort();
    // A guest whose start() arms an interval: its timer must not keep the failed node alive.
    await failedStart('primary-log', ['primary', BOOT_EFFECTS, '--port', String(await freePort()), '--log-listen', `127.0.0.1:${taken}`, '--dir', await dirFor('failed-log')]);
    await failedStart('run', ['run', BOOT_EFFECTS, '--port', String(taken), '--dir', await dirFor('failed-run')]);
    const shared = await dirFor('failed-secondary');
    const owner = track(await startPrimary({ dir: shared }));
    await failedStart('secondary', ['secondary', COUNTER, '--port', String(taken), '--primary', `ws://127.0.0.1:${owner.logPort}`, '--log-listen', '127.0.0.1:0', '--dir', shared]);
    expect(owner.proc.alive).toBe(true);
  });

  it('a secondary going live whose logging port is taken by then serves on (unprotected, and says so) instead of dying with the epoch', { timeout: 60_000 }, async () => {
    // Its --log-listen port is chosen at its start and listened on only at go-live: anything may hold
    // it by then. Dying there (it did: an unhandled rejection) left the epoch it had just claimed to a
    // dead node, so even a restarted node was refused (LOCKSTEP_EPOCH_OWNED).
    const dir = await dirFor('failed-golive');
    const primary = track(await startPrimary({ dir, failureTimeoutMs: 2000 }));
    const taken = await takePort();
    const secondary = track(await startSecondary({ dir, failureTimeoutMs: 2000, primaryUrl: `ws://127.0.0.1:${primary.logPort}`, logPort: taken }));
    await waitUntil(async () => (await status(primary.url))?.protection === 'protected', 20_000, 'primary protected');
    expect((await increment(primary.url, 'k1', 10_000)).status).toBe(200);
    await primary.proc.kill();
    await secondary.proc.waitFor(/LOCKSTEP_ADDRESS_IN_USE/, 20_000);
    await waitUntil(async () => (await status(secondary.url))?.role === 'primary', 20_000, 'the survivor serves');
    expect(await count(secondary.url)).toBe(1);
    expect(JSON.parse((await increment(secondary.url, 'k1')).body)).toEqual({ count: 1 });
    expect((await status(secondary.url))?.protection).toBe('unprotected');
    expect(secondary.proc.stderr).toMatch(/serving unprotected/);
    expect(secondary.proc.alive).toBe(true);
  });
});
