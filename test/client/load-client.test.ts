// The load client against real node:http servers in this process: ground-truth counts, a node
// dying mid-run, a secondary's 503, a key answered two ways, all nodes dead, and option parsing.

import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { runLoad, type Answer } from '../../src/client/load-client.js';
import { parseDuration } from '../../src/client/durations.js';
import { formatSummary } from '../../src/client/progress.js';
import { makeWorkload } from '../../src/client/workloads.js';
import { loadCommand } from '../../src/cli/load-command.js';
import { UsageError } from '../../src/errors.js';

type Handler = (req: http.IncomingMessage, body: string, res: http.ServerResponse) => void;
interface TestServer {
  url: string;
  hits: number;
  kill(): void;
}

const servers: TestServer[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.kill();
});

async function startServer(handler: Handler): Promise<TestServer> {
  const sockets = new Set<Socket>();
  const server = http.createServer((req, res) => {
    t.hits++;
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => handler(req, body, res));
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const t: TestServer = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hits: 0,
    // Like a host dying: stop accepting and cut every connection, in flight or idle.
    kill() {
      server.close();
      for (const s of sockets) s.destroy();
    },
  };
  servers.push(t);
  return t;
}

/** An idempotent counter: a repeated key gets the stored answer of its first request. */
function idempotentCounter(store = new Map<string, string>(), delayMs = 0): { store: Map<string, string>; handler: Handler } {
  let counter = 0;
  const handler: Handler = (req, _body, res) => {
    const key = String(req.headers['idempotency-key']);
    if (!store.has(key)) store.set(key, String(++counter));
    setTimeout(() => res.end(store.get(key)), delayMs);
  };
  return { store, handler };
}

async function deadUrl(): Promise<string> {
  const s = await startServer(() => {});
  s.kill();
  return s.url;
}

describe('runLoad', () => {
  it('(a) matches the server ground truth', async () => {
    const { store, handler } = idempotentCounter();
    const server = await startServer(handler);
    const s = await runLoad({ targets: [server.url], rate: 0, durationMs: 400, concurrency: 8, seed: 1 });
    expect(s.sent).toBeGreaterThan(10);
    expect(s.sent).toBe(store.size);
    expect(s.answered).toBe(s.sent);
    expect(s.attempts).toBe(server.hits);
    expect([s.lost, s.duplicates, s.retried]).toEqual([0, 0, 0]);
    expect(s.statusCounts).toEqual({ 200: s.sent });
    for (const [key, a] of s.answers) expect(a.body).toBe(store.get(key));
    expect(formatSummary(s)).toContain('lost             0 (must be 0');
  });

  it('(b) loses nothing when the first node dies midway', async () => {
    const shared = new Map<string, string>(); // stands in for the replicated dedupe store
    const a = await startServer(idempotentCounter(shared, 5).handler);
    const b = await startServer(idempotentCounter(shared, 5).handler);
    const answers: { at: number; a: Answer }[] = [];
    let killedAt = Infinity;
    setTimeout(() => {
      a.kill();
      killedAt = performance.now();
    }, 300);
    const s = await runLoad(
      { targets: [a.url, b.url], rate: 300, durationMs: 800, concurrency: 8, requestTimeoutMs: 500, seed: 2 },
      { onAnswer: (x) => answers.push({ at: performance.now(), a: x }) },
    );
    expect([s.lost, s.duplicates]).toEqual([0, 0]);
    expect(s.answered).toBe(s.sent);
    expect(s.retried).toBeGreaterThan(0);
    expect(s.answersByTarget[a.url]).toBeGreaterThan(0);
    expect(s.answersByTarget[b.url]).toBeGreaterThan(0);
    // Margin: a response `a` wrote just before dying may still be read just after.
    const late = answers.filter((x) => x.at > killedAt + 50);
    expect(late.length).toBeGreaterThan(0);
    expect(late.filter((x) => x.a.target !== b.url)).toEqual([]);
    expect(s.sent).toBe(shared.size);
  });

  it('(c) moves off a secondary that answers 503 and sticks to the live node', async () => {
    const secondary = await startServer((_req, _body, res) => {
      res.writeHead(503, { 'x-lockstep-role': 'secondary' }).end('not live');
    });
    const primary = await startServer(idempotentCounter().handler);
    const s = await runLoad({ targets: [secondary.url, primary.url], rate: 0, durationMs: 300, concurrency: 4, seed: 3 });
    expect([s.lost, s.duplicates]).toEqual([0, 0]);
    expect(s.answersByTarget).toEqual({ [secondary.url]: 0, [primary.url]: s.sent });
    expect(s.retried).toBeGreaterThan(0);
    // Only keys begun before the first answer can have tried the secondary.
    expect(secondary.hits).toBeLessThanOrEqual(4);
  });

  it('(d) counts a key answered with two different bodies as a duplicate', async () => {
    const seen = new Set<string>();
    const server = await startServer((req, _body, res) => {
      const key = String(req.headers['idempotency-key']);
      if (seen.has(key)) return res.end('second');
      seen.add(key);
      setTimeout(() => res.end('first'), 250); // past the client's timeout: it retries, then hears this late
    });
    const s = await runLoad({
      targets: [server.url], rate: 0, durationMs: 100, concurrency: 2, requestTimeoutMs: 100, lateAnswerWindowMs: 1000, seed: 4,
    });
    expect(s.sent).toBeGreaterThan(0);
    expect(s.duplicates).toBe(s.sent);
    expect(s.retried).toBe(s.sent);
    expect(s.duplicateExamples[0]).toMatchObject({ first: { body: 'second' }, later: { body: 'first' } });
    expect(formatSummary(s)).toContain('FAILED');
  });

  it('(e) reports keys lost when every node is dead, in bounded time', async () => {
    const targets = [await deadUrl(), await deadUrl()];
    // Bounded by giveUpAfterMs: were it not, runLoad would not return and the test's own timeout would fail it.
    const s = await runLoad({ targets, rate: 20, durationMs: 200, concurrency: 2, giveUpAfterMs: 300, retryBackoffMs: 10, retryBackoffMaxMs: 50 });
    expect(s.sent).toBeGreaterThan(0);
    expect(s.lost).toBe(s.sent);
    expect(s.answered).toBe(0);
    expect(s.lostExamples[0]!.lastError).toContain('ECONNREFUSED');
    expect(s.longestGapMs).toBeCloseTo(s.elapsedMs, -1);
  });

  it('draws the same requests from the same seed', async () => {
    const bodies = async () => {
      const got = new Map<string, string>();
      const server = await startServer((req, body, res) => {
        got.set(String(req.headers['idempotency-key']).replace(/^.*-/, ''), body);
        res.end('ok');
      });
      await runLoad({ targets: [server.url], rate: 0, durationMs: 100, concurrency: 3, seed: 99, workload: makeWorkload('echo', { bodyBytes: 32 }) });
      return got;
    };
    const [x, y] = [await bodies(), await bodies()];
    for (const [i, body] of x) if (y.has(i)) expect(y.get(i)).toBe(body);
    expect(x.get('0')).toHaveLength(32);
  });
});

describe('(f) options', () => {
  it('parses durations', () => {
    expect(parseDuration('8s')).toBe(8000);
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('2.5')).toBe(2500);
    for (const bad of ['', 'abc', '-1s', '5m', '1e3', '100000000s']) expect(() => parseDuration(bad, '--duration')).toThrow(UsageError);
    expect(() => parseDuration('soon', '--duration')).toThrow(/--duration: cannot read 'soon'/);
  });

  it('rejects bad values before sending anything', async () => {
    const run = (extra: object) => loadCommand({ targets: 'http://127.0.0.1:1', ...extra }, () => {}, { write: () => true });
    await expect(run({ targets: '' })).rejects.toThrow(/--targets: give at least one URL/);
    await expect(run({ targets: 'ftp://x' })).rejects.toThrow(/must start with http/);
    await expect(run({ rate: 'fast' })).rejects.toThrow(/--rate: 'fast'/);
    await expect(run({ concurrency: '0' })).rejects.toThrow(/--concurrency/);
    await expect(run({ duration: '0s' })).rejects.toThrow(/--duration: '0s' must be longer than 0/);
    await expect(run({ workload: 'nope' })).rejects.toThrow(/choose one of counter, kv/);
    await expect(run({ workload: 'bank', path: '/x' })).rejects.toThrow(UsageError);
    await expect(run({ seed: '-3' })).rejects.toThrow(/--seed/);
  });

  it('runs from the command line with --json and exit code 0', async () => {
    const server = await startServer(idempotentCounter().handler);
    let printed = '';
    let progress = '';
    const code = await loadCommand(
      { targets: server.url, rate: '200', duration: '300ms', concurrency: '4', path: '/hello', method: 'post', json: true, seed: '7' },
      (s) => (printed += s),
      { write: (s: string) => (progress += s) },
    );
    expect(code).toBe(0);
    const summary = JSON.parse(printed);
    expect(summary).toMatchObject({ seed: 7, lost: 0, duplicates: 0 });
    expect(summary.answers).toBeUndefined();
    expect(progress).toMatch(/^SEED=7 /);
  });
});
