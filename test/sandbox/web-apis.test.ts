// The guest's Web APIs (URL, URLSearchParams, TextEncoder/TextDecoder, atob/btoa, Headers, Request,
// Response, structuredClone, queueMicrotask) against Node's own implementations on the same inputs,
// run by the very same probe module (test/fixtures/guests/web-probe.js) in both. And their
// determinism: the probe reads no clock and no entropy (only the boot's logged values), its log
// replays to the same digest, and the answer is the same under any host TZ and locale.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_DIR } from '../../scripts/record-fixtures.lib.js';
import { recordRun, replayRun, type Run } from './in-process.js';

const PROBE = join(REPO_DIR, 'test', 'fixtures', 'guests', 'web-probe.js');
const SOURCE = readFileSync(PROBE, 'utf8');

const INPUT = {
  urls: [
    ['https://user:pa ss@EXAMPLE.com:443/a/./b/../c?x=1&y=%20z#frag'],
    ['HTTP://example.com:80/'],
    ['http://example.com:8080/path with spaces/é?q=ü#h é'],
    ['http://münchen.de/straße'],
    ['http://xn--mnchen-3ya.de/'],
    ['http://127.1/'],
    ['http://0x7f.0.0.1/'],
    ['http://[::1]:3000/x'],
    ['http://[0:0:0:0:0:ffff:7f00:1]/'],
    ['http://example.com\\a\\b'],
    ['http://example.com/%2e%2E/x'],
    ['http://example.com/a/%2e/b'],
    ['https://example.com/?a=<>"\'`'],
    ['file:///C:/dir/file.txt'],
    ['mailto:someone@example.com?subject=hi'],
    ['data:text/plain,hello world'],
    ['../x/y?z', 'http://example.com/a/b/c'],
    ['//other.org/p', 'https://example.com/'],
    ['?only=query', 'http://example.com/path'],
    ['#only-hash', 'http://example.com/path?q'],
    ['not a url'],
    ['http://exa mple.com/'],
    ['http://example.com:99999/'],
    ['http://[::1/'],
    ['https://ex%41mple.com/'],
  ],
  params: ['a=1&b=2&a=3', '?x=%20y+z&empty=&=novalue&a=é', 'a&b&c', '%zz=%GG&plus=a+b', ''],
  texts: ['', 'ascii', 'é€😀', '\ud800 lone', 'a\udc00b', '\u0000\uffff'],
  byteLists: [
    [],
    [104, 105],
    [0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98, 0x80],
    [0xff, 0xfe, 0x41],
    [0xe2, 0x82],
    [0xf0, 0x9f, 0x98],
    [0xed, 0xa0, 0x80],
    [0xc0, 0xaf, 0x41],
    [0xef, 0xbb, 0xbf, 0x41],
    [0xf4, 0x90, 0x80, 0x80],
  ],
  latin1: ['', 'hi', 'ÿþ\u0000\u0001', 'é', '€'],
  base64: ['aGk=', 'aGk', ' aG\nk= ', 'a', 'aGk==', '////', '=aGk', 'a===', 'YQ'],
  headerLists: [[['Content-Type', 'text/plain'], ['X-B', '  padded  ']], [['a', '1'], ['A', '2'], ['b', '3']]],
  badHeaders: [['bad name', 'v'], ['x', 'a\r\nb'], ['x', 'é€'], ['', 'v'], ['x', '\u0000']],
};

const runs: Run[] = [];
afterAll(() => runs.forEach((r) => r.dispose()));

async function inNode(): Promise<any> {
  const module = (await import(pathToFileURL(PROBE).href)) as { default: { fetch(r: Request): Promise<Response> } };
  const request = new Request('http://127.0.0.1/probe', { method: 'POST', body: JSON.stringify(INPUT), headers: { 'content-type': 'application/json' } });
  return (await module.default.fetch(request)).json();
}

function probeInGuest(run: Run) {
  return run.ask({ method: 'POST', path: '/probe', headers: [['host', '127.0.0.1'], ['content-type', 'application/json']], body: JSON.stringify(INPUT) });
}

let guest: Run;
let guestAnswer: ReturnType<typeof probeInGuest>;
let node: any;
beforeAll(async () => {
  guest = await recordRun(SOURCE);
  runs.push(guest);
  guestAnswer = probeInGuest(guest);
  node = await inNode();
});

describe('Web APIs agree with Node on the same inputs', () => {
  it('the probe ran in the guest', () => {
    expect(guestAnswer.status).toBe(200);
    expect(guestAnswer.headers['content-type']).toBe('application/json');
  });

  for (const key of ['urls', 'params', 'encoded', 'decoded', 'streamed', 'btoa', 'atob', 'headers', 'badHeaders', 'clone', 'cloneErrors', 'responses', 'requests', 'microtasks']) {
    it(key, () => {
      expect(guestAnswer.json[key]).toEqual(node[key]);
    });
  }

  it('the request handed to fetch() is a Request that keeps the plain-object fields', () => {
    expect(guestAnswer.json.incoming).toEqual(['POST', 'http://127.0.0.1/probe', '/probe', 'application/json', 'application/json']);
    expect(node.incoming).toEqual(['POST', 'http://127.0.0.1/probe', undefined, 'application/json', undefined].map((v) => v ?? null));
  });
});

describe('Web APIs are deterministic by construction', () => {
  it('the probe read no clock and no entropy: its request is the only entry of its event', () => {
    const requestAt = guest.entries.findIndex(([, e]) => e.kind === 'request');
    const after = guest.entries.slice(requestAt + 1).map(([, e]) => e.kind);
    expect(after.filter((kind) => kind === 'now' || kind === 'random')).toEqual([]);
    // Booting the Web APIs read nothing either: start, the PRNG seed, performance.timeOrigin.
    expect(guest.entries.slice(0, requestAt).map(([, e]) => e.kind)).toEqual(['start', 'now', 'now']);
  });

  it('the recording replays to the same outputs digest', async () => {
    expect(await replayRun(SOURCE, guest)).toBe(guest.executor.outputsDigest());
  });

  it('the answer is the same in processes with far time zones and locales', async () => {
    const script = `
      const { recordRun } = await import(${JSON.stringify(pathToFileURL(join(REPO_DIR, 'test', 'sandbox', 'in-process.ts')).href)});
      const run = await recordRun(${JSON.stringify(SOURCE)});
      const answer = run.ask({ method: 'POST', path: '/probe', headers: [['host', '127.0.0.1'], ['content-type', 'application/json']], body: ${JSON.stringify(JSON.stringify(INPUT))} });
      process.stdout.write(answer.body);
      run.dispose();`;
    const far = [
      { TZ: 'Pacific/Kiritimati', LANG: 'th_TH.UTF-8', LC_ALL: 'th_TH.UTF-8' },
      { TZ: 'America/St_Johns', LANG: 'de_DE.UTF-8', LC_ALL: 'de_DE.UTF-8' },
    ];
    const bodies = await Promise.all(far.map((env) => runTsx(script, env)));
    for (const body of bodies) expect(body).toBe(guestAnswer.body);
  }, 60_000);
});

function runTsx(script: string, env: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: REPO_DIR, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`exit ${code}: ${stderr}`))));
  });
}

describe('request.url (a fast path for plain targets, the URL parser for the rest)', () => {
  /** What `new URL()` says, with the same fallbacks the guest uses for a missing or bad Host. */
  function expected(host: string | undefined, target: string): string {
    const path = target.startsWith('/') ? target : `/${target}`;
    for (const base of [host && /^[^/?#@\\\s]+$/.test(host) ? host : 'localhost', 'localhost']) {
      try {
        return new URL(`http://${base}${path}`).href;
      } catch {
        // next
      }
    }
    return 'http://localhost/';
  }

  it('is what new URL() gives for hosts and targets of every shape', async () => {
    const hosts = [undefined, 'localhost', 'LOCALHOST:8080', 'example.com:80', 'example.com:080', 'example.com:', '127.0.0.1:3000', '127.1', '0x7f.0.0.1', '[::1]:8080', 'xn--mnchen-3ya.de', 'münchen.de', 'a..b', 'bad host', 'example.com.', '1.2.3.4.5', 'ex%41mple.com', 'h:99999', 'evil.com/x?', 'user@evil.com', 'a\\b'];
    const targets = ['/', '/a/b?c=d&e=f', '/a b', '/a/./b/../c', '/%2e%2E/x', "/q?x='y'", '/é?ü', '/a\\b', '/p?q=<>', '/x#y', '//double', '/?', '/a/..', '/.hidden', '/..%2f', '*', '/a%zz'];
    const source = 'export default { fetch(request) { return request.url; } };';
    const run = await recordRun(source);
    runs.push(run);
    const mismatches: string[] = [];
    for (const host of hosts) {
      for (const target of targets) {
        const got = run.ask({ path: target, headers: host === undefined ? [] : [['host', host]] }).body;
        const want = expected(host, target);
        if (got !== want) mismatches.push(`host ${host} target ${target}: guest ${got}, node ${want}`);
      }
    }
    expect(mismatches).toEqual([]);
  });
});
