// Child processes of a benchmark: lockstep nodes (`node bin/lockstep.js ...`) and bench workers
// (`node dist/bench/worker-main.js <task>`), each pinned by role; free ports; readiness; stopping.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { request } from 'node:http';
import { pinned, type Pinning, type Role } from './pinning.js';

/** The project root, from src/bench (under a test runner) or dist/bench (compiled). */
export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const LOCKSTEP_BIN = join(PROJECT_ROOT, 'bin', 'lockstep.js');
export const WORKER_SCRIPT = join(PROJECT_ROOT, 'dist', 'bench', 'worker-main.js');
export const GUEST_PROGRAMS_DIR = join(PROJECT_ROOT, 'guest-programs');

const READY_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 10_000;
const STDERR_KEEP_CHARS = 4000;

// One free-port finder for the demo and the bench.
export { freePort } from '../demo/processes.js';

export interface Child {
  process: ChildProcess;
  /** The last few KB of its stderr, for error messages. */
  stderr(): string;
  exited: Promise<number | null>;
}

export function startChild(pinning: Pinning, role: Role, script: string, args: string[]): Child {
  const { command, args: full } = pinned(pinning, role, process.execPath, [script, ...args]);
  const child = spawn(command, full, { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-STDERR_KEEP_CHARS);
  });
  child.stdout!.resume();
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.once('error', () => resolve(-1));
  });
  return { process: child, stderr: () => stderr, exited };
}

/** Starts `node bin/lockstep.js <args>` pinned for `role`. */
export function startLockstep(pinning: Pinning, role: Role, args: string[]): Child {
  return startChild(pinning, role, LOCKSTEP_BIN, args);
}

function getStatus(url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request(`${url}/_lockstep/status`, { method: 'GET', timeout: 1000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

/** Waits until the node answers its status endpoint; throws with its stderr if it exits first. */
export async function waitReady(child: Child, url: string, what: string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let exitCode: number | null | undefined;
  void child.exited.then((code) => (exitCode = code));
  while (Date.now() < deadline) {
    if (exitCode !== undefined) throw new Error(`${what} exited (code ${exitCode}) before it was ready: ${child.stderr().trim()}`);
    if ((await getStatus(url)) === 200) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  child.process.kill('SIGKILL');
  throw new Error(`${what} was not ready at ${url} within ${READY_TIMEOUT_MS} ms: ${child.stderr().trim()}`);
}

/** SIGTERM (a clean stop: a recording ends with its final check entry), SIGKILL if it hangs. */
export async function stopChild(child: Child): Promise<void> {
  if (child.process.exitCode !== null || child.process.signalCode !== null) return;
  child.process.kill('SIGTERM');
  const timer = setTimeout(() => child.process.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await child.exited;
  clearTimeout(timer);
}

/** Runs a bench worker task in its own pinned process; resolves with the JSON it prints last. `onLine` sees each line as it comes. */
export async function runWorker<T>(pinning: Pinning, role: Role, task: unknown, onLine?: (line: string) => void): Promise<T> {
  const { command, args } = pinned(pinning, role, process.execPath, [WORKER_SCRIPT, JSON.stringify(task)]);
  const child = spawn(command, args, { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let unread = 0;
  child.stdout!.setEncoding('utf8').on('data', (c: string) => {
    stdout += c;
    for (let end = stdout.indexOf('\n', unread); end >= 0; end = stdout.indexOf('\n', unread)) {
      onLine?.(stdout.slice(unread, end));
      unread = end + 1;
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr = (stderr + c).slice(-STDERR_KEEP_CHARS)));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (c) => resolve(c));
  });
  const last = stdout.trim().split('\n').pop() ?? '';
  if (code !== 0 || !last.startsWith('{')) {
    throw new Error(`bench worker ${WORKER_SCRIPT} failed (exit ${code}) on ${JSON.stringify(task)}: ${stderr.trim() || stdout.trim()}. Is dist up to date (npx tsc -p .)?`);
  }
  return JSON.parse(last) as T;
}
