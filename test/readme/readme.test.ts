// The README's commands work as written: the "Running a pair by hand" block is taken from the
// README itself and run with bash in the repository, and its printed results are checked.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const readme = readFileSync(`${root}/README.md`, 'utf8');

function block(after: string): string {
  const start = readme.indexOf('```sh\n', readme.indexOf(after));
  const end = readme.indexOf('```', start + 6);
  return readme.slice(start + 6, end);
}

/** Ports free right now (bound and released by a child, so this stays synchronous). */
function freePorts(n: number): number[] {
  const code = `const net=require('net');const s=[...Array(${n})].map(()=>net.createServer().listen(0,'127.0.0.1'));` +
    `Promise.all(s.map((x)=>new Promise((r)=>x.on('listening',r)))).then(()=>{console.log(s.map((x)=>x.address().port).join(','));s.forEach((x)=>x.close());});`;
  return spawnSync(process.execPath, ['-e', code], { encoding: 'utf8' }).stdout.trim().split(',').map(Number);
}

describe('README', () => {
  it('quick start names the two commands', () => {
    expect(block('## Quick start')).toMatch(/npm install && npm run demo/);
    expect(block('## Quick start')).toMatch(/npm test/);
  });

  it('"Running a pair by hand" works word for word', () => {
    const written = block('## Running a pair by hand');
    expect(written.split('\n')[0]).toBe('npm run build');
    // Word for word, except: no rebuild (npm test has built dist; rebuilding it here would rewrite the
    // files other test files are loading at the same moment), and its own ports and directory, so
    // nothing else on the machine (another suite, a node left running) can answer in its place.
    const [port, secondaryPort, logPort] = freePorts(3);
    const dir = mkdtempSync(join(tmpdir(), 'lockstep-readme-pair-'));
    const script = written
      .split('\n')
      .slice(1)
      .join('\n')
      // One pass: a port chosen for one (38081, say) must not be rewritten by the next.
      .replace(/8080|8081|7070/g, (p) => String({ '8080': port, '8081': secondaryPort, '7070': logPort }[p]))
      .replaceAll('/tmp/pair', dir);
    // Job control so `%1`/`%2` name the background jobs; the trap cleans up if a line fails.
    const result = spawnSync('bash', ['-c', `set -m\ntrap 'kill %1 %2 2>/dev/null' EXIT\n${script}\nwait`], { cwd: root, encoding: 'utf8', timeout: 90_000 });
    rmSync(dir, { recursive: true, force: true });
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
