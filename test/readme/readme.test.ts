// The README's commands work as written: the "Running a pair by hand" block is taken from the
// README itself and run with bash in the repository, and its printed results are checked.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const readme = readFileSync(`${root}/README.md`, 'utf8');

function block(after: string): string {
  const start = readme.indexOf('```sh\n', readme.indexOf(after));
  const end = readme.indexOf('```', start + 6);
  return readme.slice(start + 6, end);
}

describe('README', () => {
  it('quick start names the two commands', () => {
    expect(block('## Quick start')).toMatch(/npm install && npm run demo/);
    expect(block('## Quick start')).toMatch(/npm test/);
  });

  it('"Running a pair by hand" works word for word', () => {
    const script = block('## Running a pair by hand');
    // Job control so `%1`/`%2` name the background jobs; the trap cleans up if a line fails.
    const result = spawnSync('bash', ['-c', `set -m\ntrap 'kill %1 %2 2>/dev/null' EXIT\n${script}\nwait`], { cwd: root, encoding: 'utf8', timeout: 90_000 });
    const out = result.stdout;
    const lines = out.split('\n').filter((l) => l.startsWith('{'));
    expect(lines[0], out + result.stderr).toBe('{"count":1}');
    expect(lines[1]).toBe('{"count":1}');
    expect(JSON.parse(lines[2]).error).toBe('not_live');
    expect(out).toMatch(/role primary/);
    expect(out).toMatch(/protection\s+"protected"/);
    expect(lines[3]).toBe('{"count":1}');
    expect(lines[4]).toBe('{"count":1}');
    expect(result.stderr).toMatch(/LIVE as primary of epoch 1/);
  });
});
