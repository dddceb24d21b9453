// Crash safety of the write journal: `lockstep run` of a guest that answers only after its file write
// completed, under concurrent load, is killed with SIGKILL in the middle. After a restart (whose
// recovery replays the journal) every file holds at least the newest count a client was answered for
// it, and no file is torn (the count at both ends of its 2 KB agree).
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { request, ROOT, sleep, startRun, testResources } from '../replication/helpers.js';

const { dirFor, track } = testResources();
const WRITER = join(ROOT, 'test/fixtures/guests/journal-writer.js');
const FILES = 4;

function parse(text: string): number {
  const match = /^(\d+):x{2000}:(\d+)$/.exec(text);
  expect(match, `a torn or foreign file: ${text.slice(0, 40)}...`).not.toBeNull();
  expect(match![1]).toBe(match![2]);
  return Number(match![1]);
}

describe('the write journal across a SIGKILL', () => {
  it('after a restart every answered write is on disk and nothing is torn', { timeout: 90_000 }, async () => {
    const dir = await dirFor('journal-crash');
    const node = track(await startRun({ program: WRITER, dir }));
    const answered = new Array<number>(FILES).fill(0);
    let stop = false;
    const client = async () => {
      while (!stop) {
        const answer = await request(node.url, { method: 'POST', timeoutMs: 5000 }).catch(() => undefined);
        if (!answer || answer.status !== 200) return;
        const count = Number(answer.body);
        answered[count % FILES] = Math.max(answered[count % FILES]!, count);
      }
    };
    const clients = Array.from({ length: 8 }, client);
    await sleep(1500);
    await node.proc.kill();
    stop = true;
    await Promise.all(clients);
    expect(answered.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    // The kill caught writes in the journal (files are made durable only at a compaction).
    expect((await stat(join(dir, 'data/.lockstep/journal'))).size).toBeGreaterThan(0);

    // The restart recovers the journal into the files before it serves.
    const restarted = track(await startRun({ program: WRITER, dir, name: 'restarted' }));
    for (let k = 0; k < FILES; k++) {
      const onDisk = parse(await readFile(join(dir, 'data', `state-${k}.txt`), 'utf8'));
      expect(onDisk % FILES).toBe(k);
      expect(onDisk).toBeGreaterThanOrEqual(answered[k]!);
    }
    restarted.proc.signal('SIGTERM');
    await restarted.proc.waitExit(20_000);
  });
});
