// `lockstep dashboard`: a process of its own that watches the nodes and serves one live page.
// The page talks only to this process (the page, its script, and a server-sent event stream);
// this process polls the nodes, so a dead node shows as down rather than as errors in a browser.
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { listenError } from '../errors.js';
import { NodeWatcher, POLL_TIMEOUT_MS_DEFAULT, type NodeView } from './node-watcher.js';
import { SseHub } from './sse-hub.js';
import { Timeline, type TimelineEvent } from './timeline.js';

export const POLL_INTERVAL_MS_DEFAULT = 250;
/** Nodes one dashboard watches (a pair, plus a fresh secondary or two). */
export const TARGETS_MAX = 8;
const PAGE_DIR = new URL('../../src/dashboard/page/', import.meta.url);
const PAGE_FILES: Record<string, string> = {
  '/': 'index.html',
  '/dashboard.js': 'dashboard.js',
  '/dashboard.css': 'dashboard.css',
};
const CONTENT_TYPES: Record<string, string> = { html: 'text/html; charset=utf-8', js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8' };

/** The demo's buttons. Each resolves with a line saying what was done, or rejects saying why not. */
export interface DashboardActions {
  killPrimary(): Promise<string>;
  restartSecondary(): Promise<string>;
}

export interface DashboardOptions {
  targets: string[];
  host: string;
  port: number;
  pollIntervalMs?: number;
  pollTimeoutMs?: number;
  title?: string;
  /** Only the demo has these; they are served only to loopback clients. */
  actions?: DashboardActions;
  /** Extra facts shown on the page (the demo's load summary). */
  extra?: () => unknown;
}

export interface DashboardState {
  title: string;
  atMs: number;
  nodes: NodeView[];
  timeline: TimelineEvent[];
  actions: boolean;
  extra?: unknown;
}

export interface Dashboard {
  url: string;
  port: number;
  state(): DashboardState;
  /** Adds what the dashboard's owner did (the demo's buttons) to the timeline. */
  note(url: string, kind: 'killed' | 'restarted', text: string): void;
  close(): Promise<void>;
}

const ACTIONS = { '/actions/kill-primary': 'killPrimary', '/actions/restart-secondary': 'restartSecondary' } as const;

function isLoopback(address: string | undefined): boolean {
  return address === '127.0.0.1' || address === '::1' || address === '::ffff:127.0.0.1';
}

async function loadPage(): Promise<Map<string, { type: string; body: Buffer }>> {
  const files = new Map<string, { type: string; body: Buffer }>();
  for (const [path, file] of Object.entries(PAGE_FILES)) {
    files.set(path, { type: CONTENT_TYPES[file.split('.').pop()!], body: await readFile(new URL(file, PAGE_DIR)) });
  }
  return files;
}

export async function startDashboard(options: DashboardOptions): Promise<Dashboard> {
  const page = await loadPage();
  const watchers = options.targets.map((url) => new NodeWatcher(url, options.pollTimeoutMs ?? POLL_TIMEOUT_MS_DEFAULT));
  const timeline = new Timeline();
  const hub = new SseHub();
  let views: NodeView[] = watchers.map((w) => w.view());
  const state = (): DashboardState => ({
    title: options.title ?? 'Lockstep pair',
    atMs: Date.now(),
    nodes: views.map(({ history: _history, ...view }) => view),
    timeline: timeline.events,
    actions: options.actions !== undefined,
    extra: options.extra?.(),
  });

  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const tick = async () => {
    views = await Promise.all(watchers.map((w) => w.poll()));
    for (const view of views) timeline.observe(view);
    hub.send('state', state());
    if (!stopped) timer = setTimeout(tick, options.pollIntervalMs ?? POLL_INTERVAL_MS_DEFAULT);
  };

  const server = createServer((req, res) => void route(req, res));
  const route = async (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0];
    const file = page.get(path);
    if (req.method === 'GET' && file) return send(res, 200, file.type, file.body);
    if (req.method === 'GET' && path === '/events') {
      if (!hub.add(res, { event: 'state', data: state() })) send(res, 503, 'text/plain', 'too many dashboard pages open');
      return;
    }
    if (req.method === 'GET' && path === '/state') return send(res, 200, 'application/json', JSON.stringify(state()));
    if (req.method === 'POST' && path in ACTIONS) return act(req, res, ACTIONS[path as keyof typeof ACTIONS]);
    send(res, 404, 'text/plain', 'not found');
  };

  const act = async (req: IncomingMessage, res: ServerResponse, action: keyof DashboardActions) => {
    req.resume();
    // The header forces a CORS preflight (which is never granted), so another site cannot press the buttons.
    if (!options.actions || !isLoopback(req.socket.remoteAddress) || req.headers['x-lockstep-action'] !== '1') {
      return send(res, 403, 'application/json', JSON.stringify({ ok: false, message: 'actions are only for the demo, from this machine' }));
    }
    try {
      const message = await options.actions[action]();
      send(res, 200, 'application/json', JSON.stringify({ ok: true, message }));
    } catch (error) {
      send(res, 409, 'application/json', JSON.stringify({ ok: false, message: error instanceof Error ? error.message : String(error) }));
    }
  };

  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) => reject(listenError(error, 'dashboard', options.host, options.port)));
    server.listen(options.port, options.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  void tick();
  const shownHost = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    url: `http://${shownHost}:${port}/`,
    port,
    state,
    note: (url, kind, text) => timeline.note(url, kind, text),
    close: async () => {
      stopped = true;
      clearTimeout(timer);
      hub.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

function send(res: ServerResponse, status: number, type: string, body: string | Buffer): void {
  if (res.headersSent) return;
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
