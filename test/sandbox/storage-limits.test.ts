// Issue 20: env.storage's limits are checked against the bytes the store takes on disk and in the
// log when it is read back (UTF-8), not against characters: a value of 60k euro signs is 180 KB.
// A store that passed a character count but not the file limit failed at its write instead.
import { afterEach, describe, expect, it } from 'vitest';
import { recordRun, replayRun, type Run } from './in-process.js';

const GUEST = `export default {
  async fetch(request, env) {
    const [, what, count, copies] = request.path.split('/');
    try {
      const entries = {};
      for (let i = 0; i < Number(copies); i++) entries[what + i] = '\\u20ac'.repeat(Number(count));
      await env.storage.put(entries);
      return { body: { ok: true, keys: (await env.storage.list()).size } };
    } catch (error) {
      return { status: 500, body: { error: error.name + ': ' + error.message, keys: (await env.storage.list()).size } };
    }
  },
};`;

let run: Run | undefined;
afterEach(() => run?.dispose());

describe('env.storage limits in bytes', () => {
  it('refuses a value over 128 KiB of UTF-8, however few characters it has', async () => {
    run = await recordRun(GUEST);
    const answer = run.ask({ path: '/value/60000/1' });
    expect(answer.status).toBe(500);
    expect(answer.json.error).toMatch(/^RangeError: env\.storage: the value of "value0" takes 180002 bytes of UTF-8, more than the 131072 allowed/);
    expect(run.ask({ path: '/value/40000/1' }).json).toEqual({ ok: true, keys: 1 });
    await replayRun(GUEST, run);
  });

  it('refuses the put that would take the store past its file size, and keeps the ones before it', async () => {
    run = await recordRun(GUEST, { memoryBytesMax: 256 * 1024 * 1024, cpuPollsPerEventMax: 50_000 });
    expect(run.ask({ path: '/a/40000/60' }).json).toEqual({ ok: true, keys: 60 }); // 7.2 MB on disk
    const answer = run.ask({ path: '/b/40000/10' });
    expect(answer.status).toBe(500);
    expect(answer.json.error).toMatch(/^RangeError: env\.storage: the store would take \d+ bytes of UTF-8, more than the 8388608 allowed/);
    expect(answer.json.keys).toBe(60);
    const written = [...run.files.values()].at(-1)!;
    expect(Buffer.byteLength(written)).toBeLessThanOrEqual(8 * 1024 * 1024);
    await replayRun(GUEST, run, { memoryBytesMax: 256 * 1024 * 1024, cpuPollsPerEventMax: 50_000 });
  });
});
