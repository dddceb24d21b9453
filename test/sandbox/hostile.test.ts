// A hostile guest behind a real HTTP server with a real data directory: an endless loop, a memory
// bomb, a throw, runaway recursion and reads that try to leave the data directory (by '..' and by
// symlinks). Each gets a clear error, the node keeps serving, and the recording replays in another
// process with the same outputs digest and the same CPU polls (the CPU budget is deterministic).
import { mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStandalone, type Standalone } from '../../src/host/standalone.js';
import { readLogFile } from '../../src/log/log-file.js';
import { replayLog } from '../../src/engine/offline-replay.js';
import { assertBuilt, FAR_ENVS, REPO_DIR, runCli } from '../../scripts/record-fixtures.lib.js';

const PROGRAM = join(REPO_DIR, 'test', 'fixtures', 'guests', 'hostile.js');
const CPU_POLLS_MAX = 200;
const MEMORY_BYTES_MAX = 16 * 1024 * 1024;

let work: string;
let node: Standalone;
let logPath: string;
const consoleLines: string[] = [];
const answers: Array<{ path: string; status: number; body: any }> = [];

async function get(path: string): Promise<{ status: number; body: any }> {
  const response = await fetch(`http://127.0.0.1:${node.port}${path}`);
  const text = await response.text();
  const answer = { path, status: response.status, body: JSON.parse(text) };
  answers.push(answer);
  return answer;
}

beforeAll(async () => {
  assertBuilt();
  work = await mkdtemp(join(tmpdir(), 'lockstep-hostile-'));
  logPath = join(work, 'hostile.log');
  await mkdir(join(work, 'data'), { recursive: true });
  await symlink('/etc', join(work, 'data', 'outside'));
  await symlink('/etc/passwd', join(work, 'data', 'passwd-link'));
  node = await startStandalone({
    program: PROGRAM,
    port: 0,
    dir: work,
    record: logPath,
    limits: { cpuPollsPerEventMax: CPU_POLLS_MAX, memoryBytesMax: MEMORY_BYTES_MAX },
    onConsole: (level, text) => consoleLines.push(`${level} ${text}`),
  });
});
afterAll(async () => {
  await node?.stop();
  await rm(work, { recursive: true, force: true });
});

describe('a hostile guest', () => {
  it('an endless loop is stopped by the CPU budget (500 cpu_budget_exceeded) and the node keeps serving', async () => {
    const loop = await get('/loop');
    expect(loop.status).toBe(500);
    expect(loop.body.error).toBe('cpu_budget_exceeded');
    expect(loop.body.message).toContain(`CPU budget of ${CPU_POLLS_MAX} interrupt polls`);
    expect((await get('/ok')).body).toEqual({ ok: true, served: 1 });
  });

  it('an endless loop after an await (in a promise job) is stopped too', async () => {
    const loop = await get('/async-loop');
    expect(loop.status).toBe(500);
    expect(loop.body.error).toBe('cpu_budget_exceeded');
    expect((await get('/ok')).body.served).toBe(2);
  });

  it('a memory bomb gets a 500 naming memory and the node keeps serving', async () => {
    const bomb = await get('/memory');
    expect(bomb.status).toBe(500);
    expect(`${bomb.body.error} ${bomb.body.message}`).toMatch(/memory/i);
    expect((await get('/ok')).body.served).toBe(3);
  });

  it('a throw gets 500 guest_threw with the message', async () => {
    const thrown = await get('/throw');
    expect(thrown).toEqual({ path: '/throw', status: 500, body: { error: 'guest_threw', message: 'Error: boom: the handler threw on purpose' } });
  });

  it('runaway recursion hits the stack limit, not the host', async () => {
    const deep = await get('/recurse');
    expect(deep.status).toBe(500);
    expect(deep.body.message).toMatch(/stack overflow|call stack/i);
    expect((await get('/ok')).body.served).toBe(4);
  });

  it("reads that leave the data directory ('..', a symlinked dir, a symlinked file) are refused and read nothing", async () => {
    for (const path of ['/escape', '/symlink-dir', '/symlink-file']) {
      const refused = await get(path);
      expect(refused.status, path).toBe(500);
      expect(refused.body.message, path).toMatch(/EACCES: path escapes the data directory/);
      expect(refused.body.message, path).not.toMatch(/root:/);
    }
    expect((await get('/ok')).body.served).toBe(5);
  });

  it('the recording replays exactly: same outputs digest and same CPU polls, in another process and TZ', async () => {
    const recordedPolls = node.executor.cpuPollsTotal;
    const recordedDigest = node.executor.outputsDigest();
    expect(recordedPolls).toBeGreaterThan(CPU_POLLS_MAX * 2); // the two loops spent their budgets
    await node.stop();
    const { entries } = readLogFile(logPath);
    const finalCheck = entries.at(-1);
    expect(finalCheck).toEqual({ kind: 'check', events: expect.any(Number), digest: recordedDigest });
    // The refused reads are logged as failed read events: a replayer needs no disk to reproduce them.
    const failedReads = entries.filter((e) => e.kind === 'read' && !e.ok);
    expect(failedReads.length).toBeGreaterThanOrEqual(2);

    const inProcess = await replayLog(logPath, PROGRAM);
    expect(inProcess.outputsDigest).toBe(recordedDigest);
    expect(inProcess.cpuPolls).toBe(recordedPolls);

    const replayed = await runCli(['replay', logPath, PROGRAM], FAR_ENVS[0]);
    expect(replayed.stderr).toBe('');
    expect(replayed.code).toBe(0);
    expect(replayed.stdout).toContain(`digest ${recordedDigest}, cpu polls ${recordedPolls}`);
  });
});
