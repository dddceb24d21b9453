// Issue 20, item 4: a failed env.storage change leaves no trace. The store's file is made unwritable
// (a directory in its place), a put fails, and then: the guest reads the old value, a later change
// does not carry the failed one to disk once the disk heals, a restarted node finds the old value,
// and the offline replay of the recording goes the same way (exit 0, no divergence).
import { spawnSync } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, request, ROOT, startRun, testResources, waitUntil, type StartedNode } from '../replication/helpers.js';

const { dirFor, track } = testResources();
const STORE = join(ROOT, 'test/fixtures/guests/store.js');

async function put(node: StartedNode, key: string, value: string) {
  const answer = await request(node.url, { method: 'PUT', path: `/${key}`, body: value, timeoutMs: 10_000 });
  return { status: answer.status, body: JSON.parse(answer.body) as Record<string, unknown> };
}

async function get(node: StartedNode, key: string): Promise<unknown> {
  const answer = await request(node.url, { path: `/${key}`, timeoutMs: 10_000 });
  expect(answer.status, answer.body).toBe(200);
  return (JSON.parse(answer.body) as { value: unknown }).value;
}

describe('a failed env.storage change', () => {
  it('leaves no trace: not in memory, not on disk after the disk heals, not after a restart, not in the replay', { timeout: 60_000 }, async () => {
    const dir = await dirFor('storage-rollback');
    const file = join(dir, 'data/.lockstep/storage.json');
    const recording = join(dir, 'store.log');
    const node = track(await startRun({ program: STORE, dir, extra: ['--record', recording] }));
    expect(await put(node, 'k', 'v1')).toEqual({ status: 200, body: { ok: true } });
    // Durable in the write journal at the answer; the file itself is brought up to date right behind it.
    await waitUntil(async () => /v1/.test(await readFile(file, 'utf8').catch(() => '')), 5000, 'the store file holds v1');
    const durable = await readFile(file, 'utf8');

    // The disk refuses the store's next write: a non-empty directory where its file was.
    await rm(file);
    await mkdir(join(file, 'in-the-way'), { recursive: true });
    const failed = await put(node, 'k', 'v2');
    expect(failed.status).toBe(500);
    expect(await get(node, 'k')).toBe('v1');

    // The disk heals; the next change writes the store without the failed one.
    await rm(file, { recursive: true });
    await writeFile(file, durable);
    expect(await put(node, 'other', 'x')).toEqual({ status: 200, body: { ok: true } });
    expect(await get(node, 'k')).toBe('v1');
    expect(await readFile(file, 'utf8')).not.toMatch(/v2/);

    node.proc.signal('SIGTERM');
    await node.proc.waitExit(20_000);
    const replay = spawnSync(process.execPath, [BIN, 'replay', recording, STORE], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    expect(replay.status, replay.stdout + replay.stderr).toBe(0);

    const restarted = track(await startRun({ program: STORE, dir, name: 'restarted' }));
    expect(await get(restarted, 'k')).toBe('v1');
    expect(await get(restarted, 'other')).toBe('x');
  });
});
