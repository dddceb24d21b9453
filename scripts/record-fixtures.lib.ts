// Shared by scripts/record-fixtures.ts and the tests: start real `lockstep run` / `lockstep replay`
// processes, talk HTTP to them, and drive each guest program with requests of every kind it serves.
// Processes use the compiled CLI (bin/lockstep.js -> dist), so run `npx tsc -p .` first.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRng } from '../src/client/rng.js';

export const REPO_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const BIN = join(REPO_DIR, 'bin', 'lockstep.js');
export const GUEST_DIR = join(REPO_DIR, 'guest-programs');
export const GOLDEN_DIR = join(REPO_DIR, 'test', 'fixtures', 'golden');
export const GUEST_NAMES = ['counter', 'kv', 'bank', 'cron', 'lottery', 'echo', 'shortener'] as const;
export type GuestName = (typeof GUEST_NAMES)[number];

/** A replay host far from the recording host: other time zone, other locale. */
export const FAR_ENVS: Array<Record<string, string>> = [
  { TZ: 'Pacific/Kiritimati', LANG: 'th_TH.UTF-8', LC_ALL: 'th_TH.UTF-8' },
  { TZ: 'America/St_Johns', LANG: 'de_DE.UTF-8', LC_ALL: 'de_DE.UTF-8' },
];

export function guestPath(name: string): string {
  return join(GUEST_DIR, `${name}.js`);
}

export function assertBuilt(): void {
  if (!existsSync(join(REPO_DIR, 'dist', 'cli', 'main.js'))) throw new Error('dist/ is missing: run `npx tsc -p .` first');
}

export interface ProcessResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `node bin/lockstep.js ...args` to completion. */
export function runCli(args: string[], env: Record<string, string> = {}, timeoutMs = 30_000): Promise<ProcessResult> {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: REPO_DIR, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  return collect(child, timeoutMs);
}

function collect(child: ChildProcess, timeoutMs: number): Promise<ProcessResult> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk) => (stdout += chunk));
  child.stderr?.on('data', (chunk) => (stderr += chunk));
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`process timed out after ${timeoutMs} ms; stderr so far:\n${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, stdout, stderr });
    });
  });
}

export interface RunningNode {
  port: number;
  child: ChildProcess;
  /** SIGTERM (a clean stop that writes the final check entry), then the process's result. */
  stop(): Promise<ProcessResult>;
}

/** Starts `lockstep run <program> --port 0 ...`; the port is read from the line it prints once serving. */
export async function startRun(program: string, args: string[], env: Record<string, string> = {}): Promise<RunningNode> {
  const child = spawn(process.execPath, [BIN, 'run', program, '--port', '0', ...args], {
    cwd: REPO_DIR,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const result = collect(child, 120_000);
  let stderr = '';
  const port = await new Promise<number>((resolvePromise, reject) => {
    const onData = (chunk: Buffer) => {
      stderr += chunk;
      const match = /serving .* on http:\/\/[^ ]+:(\d+)/.exec(stderr);
      if (match) {
        child.stderr!.off('data', onData);
        resolvePromise(Number(match[1]));
      }
    };
    child.stderr!.on('data', onData);
    child.on('exit', (code) => reject(new Error(`lockstep run exited with ${code} before serving:\n${stderr}`)));
  });
  return {
    port,
    child,
    stop: async () => {
      child.kill('SIGTERM');
      return result;
    },
  };
}

export interface Answer {
  /** Unique per request (the x-test-id header), to find the request's entry in the log. */
  testId: string;
  method: string;
  path: string;
  status: number;
  contentType: string | null;
  body: string;
}

export class Client {
  private next = 0;
  readonly answers: Answer[] = [];

  constructor(readonly port: number) {}

  async send(method: string, path: string, body?: string, contentType = 'text/plain'): Promise<Answer> {
    const testId = `t${++this.next}`;
    const response = await fetch(`http://127.0.0.1:${this.port}${path}`, {
      method,
      headers: { 'x-test-id': testId, ...(body === undefined ? {} : { 'content-type': contentType }) },
      body,
      redirect: 'manual', // a guest's redirect is its answer (the shortener's point elsewhere)
    });
    const answer: Answer = { testId, method, path, status: response.status, contentType: response.headers.get('content-type'), body: await response.text() };
    this.answers.push(answer);
    return answer;
  }

  json(method: string, path: string, value: unknown): Promise<Answer> {
    return this.send(method, path, JSON.stringify(value), 'application/json');
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A small seeded PRNG (mulberry32): the load is the same on every run. */
export function seeded(seed: number): () => number {
  return createRng(seed).next;
}

/**
 * Drives a guest with requests of every kind it serves, some of them concurrently (so events of
 * different requests interleave with disk completions). Returns when every answer has arrived.
 */
export async function driveGuest(name: GuestName, client: Client, seed = 1): Promise<void> {
  const rnd = seeded(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rnd() * list.length)]!;
  switch (name) {
    case 'counter':
      await client.send('GET', '/count');
      await Promise.all([1, 2, 3, 4].map(() => client.send('POST', '/increment')));
      for (let i = 0; i < 4; i++) await client.send('POST', '/increment');
      await client.send('GET', '/count');
      await client.send('GET', '/nowhere');
      return;
    case 'kv': {
      const keys = ['alpha', 'beta', 'gamma'];
      await client.send('GET', '/kv');
      await Promise.all(keys.map((k, i) => client.send('PUT', `/kv/${k}`, `value-${i}-${Math.floor(rnd() * 1000)}`)));
      for (let i = 0; i < 6; i++) {
        const k = pick(keys);
        if (i % 3 === 2) await client.send('PUT', `/kv/${k}`, `v${i}-${Math.floor(rnd() * 1000)}`);
        else await client.send('GET', `/kv/${k}`);
      }
      await client.send('DELETE', '/kv/beta');
      await client.send('DELETE', '/kv/beta');
      await client.send('GET', '/kv/beta');
      await client.send('GET', '/kv');
      await client.send('POST', '/kv/alpha', 'x');
      return;
    }
    case 'bank': {
      const names = ['alice', 'bob', 'carol', 'dave'];
      await client.send('GET', '/total');
      await Promise.all([0, 1, 2].map(() => client.json('POST', '/transfer', { from: pick(names), to: 'dave', amount: 1 + Math.floor(rnd() * 50) })));
      for (let i = 0; i < 5; i++) {
        const from = pick(names);
        const to = names[(names.indexOf(from) + 1) % names.length];
        await client.json('POST', '/transfer', { from, to, amount: 1 + Math.floor(rnd() * 300) });
      }
      await client.json('POST', '/transfer', { from: 'alice', to: 'bob', amount: 1_000_000 }); // overdraft: 409
      await client.json('POST', '/transfer', { from: 'alice', to: 'mallory', amount: 1 }); // unknown: 400
      await client.send('POST', '/transfer', 'not json');
      await client.send('GET', '/accounts');
      await client.send('GET', '/total');
      return;
    }
    case 'cron':
      await client.send('GET', '/ticks');
      await sleep(180);
      await client.send('GET', '/ticks');
      await sleep(180);
      await Promise.all([client.send('GET', '/ticks'), client.send('GET', '/nowhere')]);
      return;
    case 'lottery': {
      await client.json('POST', '/draw', {}); // nobody entered yet: 409
      for (const round of [1, 2]) {
        await Promise.all(['ann', 'ben', 'cat', 'dan'].map((n) => client.json('POST', '/enter', { name: `${n}${round}` })));
        await client.json('POST', '/enter', { name: '' }); // 400
        await client.send('POST', '/draw');
      }
      await client.send('GET', '/draws');
      return;
    }
    case 'echo':
      for (let i = 0; i < 4; i++) {
        const length = Math.floor(rnd() * 200);
        let text = '';
        for (let j = 0; j < length; j++) text += String.fromCharCode(32 + Math.floor(rnd() * 95));
        await client.send('POST', '/echo', text);
      }
      await Promise.all([client.send('POST', '/echo', '{"json":true}', 'application/json'), client.send('POST', '/echo', 'héllo wörld ✓'), client.send('POST', '/echo', '')]);
      await client.send('GET', '/echo');
      return;
    case 'shortener': {
      // Random slugs (crypto), named ones, a taken one, bad input, visits (storage writes), a listing.
      await client.send('GET', '/links');
      const created = await Promise.all([0, 1, 2].map((i) => client.json('POST', '/links', { url: `https://example.com/a/${i}?q=${Math.floor(rnd() * 1000)}` })));
      await client.json('POST', '/links', { url: 'https://example.org/docs#intro', slug: 'docs' });
      await client.json('POST', '/links', { url: 'https://example.org/other', slug: 'docs' }); // taken: 409
      await client.json('POST', '/links', { url: 'ftp://example.org/' }); // 400
      await client.send('POST', '/links', 'not json'); // 400
      for (const answer of created) {
        const { slug } = JSON.parse(answer.body) as { slug: string };
        await Promise.all([client.send('GET', `/${slug}`), client.send('GET', `/${slug}`)]);
      }
      await client.send('GET', '/docs');
      await client.send('GET', '/links/docs');
      await client.send('GET', '/links?prefix=d&limit=5');
      await client.send('DELETE', '/links/docs');
      await client.send('GET', '/docs'); // deleted: 404
      await client.send('GET', '/links?limit=10');
      return;
    }
  }
}
