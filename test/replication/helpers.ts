// Shared helpers for the replication integration tests (and scripts/soak.ts): real `lockstep`
// processes on free loopback ports, their output, their status, and plain HTTP requests.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll } from 'vitest';
import { createRng } from '../../src/client/rng.js';
import { LinkProxy, type LinkMode } from '../../src/chaos/link-proxy.js';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = join(ROOT, 'bin/lockstep.js');
export const COUNTER = join(ROOT, 'guest-programs/counter.js');

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function assertBuilt(): void {
  if (!existsSync(join(ROOT, 'dist/cli/main.js'))) throw new Error('dist/ is missing: run `npx tsc -p .` first');
}

/** A port that was free a moment ago (bind on 0, read it, close). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolveP, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, host, () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolveP(port));
    });
  });
}

export async function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `lockstep-${prefix}-`));
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** One running `lockstep` process with its output captured. */
export class Proc {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  exit: Exit | undefined;
  readonly exited: Promise<Exit>;
  private watchers: Array<() => void> = [];

  constructor(readonly name: string, readonly args: string[], options: { netns?: string; env?: NodeJS.ProcessEnv } = {}) {
    const command = options.netns ? 'ip' : process.execPath;
    const argv = options.netns ? ['netns', 'exec', options.netns, process.execPath, BIN, ...args] : [BIN, ...args];
    this.child = spawn(command, argv, { cwd: ROOT, env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      this.stdout += d;
      this.notify();
    });
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      this.stderr += d;
      if (process.env.LOCKSTEP_TEST_VERBOSE) process.stderr.write(`[${this.name}] ${d}`);
      this.notify();
    });
    this.exited = new Promise((r) =>
      this.child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        this.notify();
        r(this.exit);
      }),
    );
  }

  get pid(): number {
    return this.child.pid!;
  }

  get alive(): boolean {
    return this.exit === undefined;
  }

  private notify(): void {
    for (const w of this.watchers) w();
  }

  /** Waits until stderr+stdout matches `pattern` (or fails with the output so far). */
  async waitFor(pattern: RegExp, timeoutMs = 10_000): Promise<RegExpMatchArray> {
    const check = () => (this.stderr + this.stdout).match(pattern);
    const found = check();
    if (found) return found;
    return new Promise((resolveP, reject) => {
      const done = () => {
        this.watchers = this.watchers.filter((w) => w !== watcher);
        clearTimeout(timer);
      };
      const watcher = () => {
        const m = check();
        if (m) {
          done();
          resolveP(m);
        } else if (this.exit) {
          done();
          reject(new Error(`${this.name} exited (${JSON.stringify(this.exit)}) before printing ${pattern}:\n${this.stderr}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${this.name}: no ${pattern} within ${timeoutMs} ms:\n${this.stderr}`));
      }, timeoutMs);
      this.watchers.push(watcher);
    });
  }

  /** Sends a signal to the node process itself (for netns, `ip netns exec` execs into node, same pid). */
  signal(sig: NodeJS.Signals): void {
    if (!this.alive) return;
    try {
      process.kill(this.pid, sig);
    } catch {
      /* already gone */
    }
  }

  async kill(): Promise<Exit> {
    this.signal('SIGCONT');
    this.signal('SIGKILL');
    return this.exited;
  }

  async waitExit(timeoutMs = 10_000): Promise<Exit> {
    return Promise.race([
      this.exited,
      sleep(timeoutMs).then(() => {
        throw new Error(`${this.name} did not exit within ${timeoutMs} ms:\n${this.stderr}`);
      }),
    ]);
  }
}

export interface Timing {
  heartbeatMs?: number;
  failureTimeoutMs?: number;
}

function timingArgs(t: Timing): string[] {
  return ['--heartbeat-ms', String(t.heartbeatMs ?? 50), '--failure-timeout-ms', String(t.failureTimeoutMs ?? 300)];
}

export interface NodeSpec extends Timing {
  program?: string;
  dir: string;
  port?: number;
  host?: string;
  logListenHost?: string;
  logPort?: number;
  extra?: string[];
  netns?: string;
  name?: string;
  env?: NodeJS.ProcessEnv;
}

export interface StartedNode {
  proc: Proc;
  port: number;
  host: string;
  logPort: number;
  url: string;
}

export async function startPrimary(spec: NodeSpec): Promise<StartedNode> {
  const host = spec.host ?? '127.0.0.1';
  const port = spec.port ?? (await freePort());
  const logPort = spec.logPort ?? (await freePort());
  const proc = new Proc(spec.name ?? 'primary', [
    'primary', spec.program ?? COUNTER, '--host', host, '--port', String(port),
    '--log-listen', `${spec.logListenHost ?? host}:${logPort}`, '--dir', spec.dir, ...timingArgs(spec), ...(spec.extra ?? []),
  ], { netns: spec.netns, env: spec.env });
  await proc.waitFor(/serving .* logging channel on/);
  return { proc, port, host, logPort, url: `http://${host}:${port}` };
}

export async function startSecondary(spec: NodeSpec & { primaryUrl: string }): Promise<StartedNode> {
  const host = spec.host ?? '127.0.0.1';
  const port = spec.port ?? (await freePort());
  const logPort = spec.logPort ?? (await freePort());
  const proc = new Proc(spec.name ?? 'secondary', [
    'secondary', spec.program ?? COUNTER, '--host', host, '--port', String(port), '--primary', spec.primaryUrl,
    '--log-listen', `${spec.logListenHost ?? host}:${logPort}`, '--dir', spec.dir, ...timingArgs(spec), ...(spec.extra ?? []),
  ], { netns: spec.netns, env: spec.env });
  await proc.waitFor(/secondary of .* on http/);
  return { proc, port, host, logPort, url: `http://${host}:${port}` };
}

export interface Pair {
  primary: StartedNode;
  secondary: StartedNode;
  dir: string;
  kill(): Promise<void>;
}

/** A primary and a secondary on loopback, sharing `dir`; resolves once the primary is protected. */
export async function startPair(dir: string, options: Timing & { primaryExtra?: string[]; secondaryExtra?: string[]; program?: string } = {}): Promise<Pair> {
  const primary = await startPrimary({ ...options, dir, extra: options.primaryExtra });
  let secondary: StartedNode | undefined;
  try {
    secondary = await startSecondary({ ...options, dir, primaryUrl: `ws://127.0.0.1:${primary.logPort}`, extra: options.secondaryExtra });
    await waitUntil(async () => (await status(primary.url))?.protection === 'protected', 10_000, 'primary protected');
    await waitReplaying(secondary.url);
  } catch (error) {
    // Leave no process behind; say what the nodes said.
    await Promise.all([primary.proc.kill(), secondary?.proc.kill()]);
    const said = [primary, secondary].map((n) => (n ? `\n--- ${n.proc.name}:\n${n.proc.stderr.slice(-2000)}` : '')).join('');
    throw new Error(`${error instanceof Error ? error.message : error}${said}`);
  }
  return {
    primary,
    secondary: secondary!,
    dir,
    kill: async () => {
      await Promise.all([primary.proc.kill(), secondary!.proc.kill()]);
    },
  };
}

/** The secondary has booted its replay executor (the heavy part of its start, wasm instantiation). */
export async function waitReplaying(url: string, timeoutMs = 15_000): Promise<void> {
  await waitUntil(async () => ((await status(url))?.replayedSeq ?? 0) >= 1, timeoutMs, `${url} replaying`);
}

export interface HttpAnswer {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
}

/** One HTTP request on a fresh connection; rejects on connection errors and on timeout. */
export function request(url: string, options: { method?: string; path?: string; headers?: Record<string, string>; body?: string; timeoutMs?: number } = {}): Promise<HttpAnswer> {
  return new Promise((resolveP, reject) => {
    const body = options.body ?? '';
    const req = http.request(new URL(options.path ?? '/', url), {
      method: options.method ?? 'GET',
      agent: false,
      headers: { ...options.headers, 'content-length': Buffer.byteLength(body) },
    });
    const timer = setTimeout(() => {
      req.destroy(new Error(`timeout after ${options.timeoutMs ?? 3000} ms`));
    }, options.timeoutMs ?? 3000);
    req.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        clearTimeout(timer);
        resolveP({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), headers: res.headers });
      });
      res.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
    req.end(body);
  });
}

/** GET /_lockstep/status, or undefined if the node does not answer. */
export async function status(url: string, timeoutMs = 1000): Promise<Record<string, any> | undefined> {
  try {
    const a = await request(url, { path: '/_lockstep/status', timeoutMs });
    return a.status === 200 ? (JSON.parse(a.body) as Record<string, any>) : undefined;
  } catch {
    return undefined;
  }
}

export async function waitUntil(check: () => Promise<boolean> | boolean, timeoutMs: number, what: string, intervalMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await sleep(intervalMs);
  }
}

/** POST /increment with a key; resolves with the answer or the error. */
export async function increment(url: string, key: string, timeoutMs = 3000): Promise<HttpAnswer> {
  return request(url, { method: 'POST', path: '/increment', headers: { 'idempotency-key': key }, timeoutMs });
}

export async function count(url: string): Promise<number> {
  const a = await request(url, { path: '/count', timeoutMs: 5000 });
  if (a.status !== 200) throw new Error(`GET /count from ${url}: ${a.status} ${a.body}`);
  return (JSON.parse(a.body) as { count: number }).count;
}

export async function claimFiles(dir: string): Promise<string[]> {
  try {
    return (await readdir(join(dir, 'claims'))).filter((name) => /^epoch-\d+$/.test(name)).sort();
  } catch {
    return [];
  }
}

/** A small seeded PRNG (mulberry32) for reproducible kill points. */
export function rngFrom(seed: number): () => number {
  return createRng(seed).next;
}

export const LEDGER = join(ROOT, 'test/fixtures/guests/ledger.js');

/** POST /add to the in-memory ledger guest. */
export async function add(url: string, key: string, body = '', timeoutMs = 3000): Promise<HttpAnswer> {
  return request(url, { method: 'POST', path: '/add', headers: { 'idempotency-key': key }, body, timeoutMs });
}

export async function ledgerCount(url: string): Promise<number> {
  const a = await request(url, { path: '/n', timeoutMs: 5000 });
  if (a.status !== 200) throw new Error(`GET /n from ${url}: ${a.status} ${a.body}`);
  return (JSON.parse(a.body) as { n: number }).n;
}

/**
 * A TCP proxy on loopback between a secondary and its primary's logging port that delays what the
 * secondary sends (acks, heartbeats) by `delayMs`: a slow link, so acks can sit in flight.
 */
export async function slowProxyTo(port: number, delayMs: number): Promise<{ port: number; close(): void }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(port, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        sockets.delete(s);
        setTimeout(() => {
          client.destroy();
          upstream.destroy();
        }, delayMs);
      });
    }
    client.on('data', (chunk) => setTimeout(() => upstream.write(chunk), delayMs));
    upstream.pipe(client);
  });
  return listenOnLoopback(server, sockets);
}

/** Listens on a free loopback port; `close` also destroys the connections in `sockets`. */
export async function listenOnLoopback(server: net.Server, sockets: Set<net.Socket>): Promise<{ port: number; close(): void }> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as net.AddressInfo).port,
    close() {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

/** The chaos link proxy in front of a primary's logging port, in `mode`, closed with the test file. */
export async function proxyTo(primary: StartedNode, closers: Array<() => void>, mode: LinkMode = { kind: 'pass' }): Promise<LinkProxy> {
  const proxy = new LinkProxy({ host: '127.0.0.1', port: primary.logPort });
  await proxy.listen();
  proxy.set(mode);
  closers.push(() => void proxy.close());
  return proxy;
}

/**
 * The processes and directories of one test file, cleaned up after it: `dirFor` makes a temp
 * directory, `track` registers a started node (killed at the end), `closers` run first.
 */
export function testResources() {
  const procs: Proc[] = [];
  const dirs: string[] = [];
  const closers: Array<() => void> = [];
  beforeAll(() => assertBuilt());
  afterAll(async () => {
    for (const close of closers) close();
    await Promise.all(procs.map((p) => p.kill()));
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });
  return {
    closers,
    async dirFor(name: string): Promise<string> {
      const dir = await tempDir(name);
      dirs.push(dir);
      return dir;
    },
    track<T extends StartedNode>(node: T): T {
      procs.push(node.proc);
      return node;
    },
  };
}

/** `lockstep run` on a free port; resolves once it serves. */
export async function startRun(spec: { program: string; dir: string; extra?: string[]; name?: string }): Promise<StartedNode> {
  const port = await freePort();
  const proc = new Proc(spec.name ?? 'run', ['run', spec.program, '--port', String(port), '--dir', spec.dir, ...(spec.extra ?? [])]);
  await proc.waitFor(/lockstep run: serving /, 15_000);
  return { proc, port, host: '127.0.0.1', logPort: 0, url: `http://127.0.0.1:${port}` };
}
