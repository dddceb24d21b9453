// Helpers of the time-travel tests: a CLI run fed lines on stdin, and finding a request's entry in
// a real recording by the x-test-id header the test client sends.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { readLogFile } from '../../src/log/log-file.js';
import { BIN, REPO_DIR, type ProcessResult } from '../../scripts/record-fixtures.lib.js';

export const FIXTURES = join(REPO_DIR, 'test', 'fixtures', 'timetravel');

/** `node bin/lockstep.js ...args` with `input` on its stdin (not a terminal). */
export function runCliWithInput(args: string[], input: string, timeoutMs = 60_000): Promise<ProcessResult> {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: REPO_DIR, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  child.stdin.end(input);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`lockstep ${args[0]} timed out after ${timeoutMs} ms; stderr so far:\n${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** The entry number of each request in the log, by its x-test-id header. */
export function requestSeqs(logPath: string): Map<string, number> {
  const { entries, firstSeq } = readLogFile(logPath);
  const seqs = new Map<string, number>();
  entries.forEach((entry, i) => {
    if (entry.kind !== 'request') return;
    const id = entry.headers.find(([name]) => name === 'x-test-id')?.[1];
    if (id !== undefined) seqs.set(id, firstSeq + i);
  });
  return seqs;
}

/** The last entry the recording holds. */
export function lastSeqOf(logPath: string): number {
  const { entries, firstSeq } = readLogFile(logPath);
  return firstSeq + entries.length - 1;
}

export function jsonLines(text: string): Array<Record<string, any>> {
  return text
    .trim()
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Record<string, any>);
}
