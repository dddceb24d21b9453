// The service port: turns HTTP requests into guest requests and released answers into HTTP
// responses. Bodies are bounded (413 past the limit); `/_lockstep/status` is answered by the host.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { HeaderPairs } from '../log/entries.js';
import { requestBytes, type IncomingRequest } from './incoming-request.js';
import { Abandonment, type AbandonSignal } from './abandon-signal.js';
import { RequestBatch } from './request-batch.js';
import type { StoredAnswer } from '../engine/idempotency-store.js';
import { listenError } from '../errors.js';
import { nodeMetrics } from '../metrics/node-metrics.js';
import { recordMetrics } from '../metrics/record.js';

export const REQUEST_BODY_BYTES_MAX = 1024 * 1024;
/** A guest that never answers must not hold a client forever. */
export const RESPONSE_TIMEOUT_MS = 30_000;
export const STATUS_PATH = '/_lockstep/status';
/** Prometheus metrics of this node, in the text exposition format (src/metrics). */
export const METRICS_PATH = '/_lockstep/metrics';

export type ServiceRole = 'primary' | 'secondary' | 'standalone' | 'fenced';

export interface ServiceHandler {
  role(): ServiceRole;
  /** Resolves with the released answer. Only called when role() is not 'secondary'/'fenced'. */
  /** `abandoned` fires when nobody waits for the answer any more (timeout, client gone), so nothing is held for it. */
  handle(request: IncomingRequest, abandoned: AbandonSignal): Promise<StoredAnswer>;
  status(): unknown;
  /** The epoch this node serves in (x-lockstep-epoch on every answer); undefined when unreplicated. Cheap: read per answer. */
  epoch(): number | undefined;
  /** Other `/_lockstep/...` paths of the node itself (a shadow's switchover): true if it answered the request. */
  control?(req: IncomingMessage, res: ServerResponse): boolean;
}

export interface ServiceServerOptions {
  host: string;
  port: number;
  bodyBytesMax?: number;
  responseTimeoutMs?: number;
}

export interface ServiceServer {
  server: Server;
  port: number;
  close(): Promise<void>;
}

function send(res: ServerResponse, status: number, headers: Record<string, string>, body: string | Uint8Array, role: ServiceRole, epoch?: number): void {
  if (res.headersSent || res.destroyed) return;
  const epochHeader = epoch === undefined ? {} : { 'x-lockstep-epoch': String(epoch) };
  try {
    res.writeHead(status, { ...headers, 'x-lockstep-role': role, ...epochHeader, 'content-length': Buffer.byteLength(body) });
  } catch (error) {
    // Answers are checked at the sandbox boundary (src/sandbox/effects.ts), so this is a gap in that
    // check: answer 500 rather than let node:http's throw take the whole node down.
    res.removeHeader('content-type');
    const text = JSON.stringify({ error: 'host_bad_response', message: `the answer could not be sent: ${error instanceof Error ? error.message : String(error)}` });
    res.writeHead(500, { 'content-type': 'application/json', 'x-lockstep-role': role, 'content-length': Buffer.byteLength(text) });
    res.end(text);
    return;
  }
  res.end(body);
}

/** This process's memory in MiB, for status (a long run's memory must stay flat). */
function memoryFigures(): Record<string, number> {
  const m = process.memoryUsage();
  const mib = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;
  return { rssMiB: mib(m.rss), heapUsedMiB: mib(m.heapUsed), heapTotalMiB: mib(m.heapTotal), externalMiB: mib(m.external), arrayBuffersMiB: mib(m.arrayBuffers) };
}

function jsonError(res: ServerResponse, status: number, role: ServiceRole, error: string, message: string): void {
  send(res, status, { 'content-type': 'application/json' }, JSON.stringify({ error, message }), role);
}

function headerPairs(req: IncomingMessage): HeaderPairs {
  const pairs: HeaderPairs = [];
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) pairs.push([raw[i].toLowerCase(), raw[i + 1]]);
  return pairs;
}

/** The body's bytes in an array of their own (a pooled Buffer slice would keep its whole slab alive in the log). */
function bodyOf(chunks: Buffer[], size: number): Uint8Array {
  const body = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    body.set(chunk, at);
    at += chunk.length;
  }
  return body;
}

/** What the request adds to the guest's input: request line, headers and body (the log carries all three). */
export async function startServiceServer(options: ServiceServerOptions, handler: ServiceHandler): Promise<ServiceServer> {
  const bodyBytesMax = options.bodyBytesMax ?? REQUEST_BODY_BYTES_MAX;
  const responseTimeoutMs = options.responseTimeoutMs ?? RESPONSE_TIMEOUT_MS;
  nodeMetrics(); // set up at boot, not during the first request
  const batch = new RequestBatch();
  const server = createServer((req, res) => {
    const role = handler.role();
    if (req.url === STATUS_PATH && req.method === 'GET') {
      send(res, 200, { 'content-type': 'application/json' }, JSON.stringify({ ...(handler.status() as object), memory: memoryFigures() }), role);
      return;
    }
    if (req.url === METRICS_PATH && req.method === 'GET') {
      const metrics = nodeMetrics();
      metrics.render(handler.status()).then(
        (text) => send(res, 200, { 'content-type': metrics.contentType }, text, role),
        (error) => jsonError(res, 500, role, 'metrics_failed', `could not render metrics: ${error instanceof Error ? error.message : error}`),
      );
      return;
    }
    if (handler.control && req.url?.startsWith('/_lockstep/') && handler.control(req, res)) return;
    if (role === 'secondary' || role === 'fenced') {
      jsonError(res, 503, role, role === 'secondary' ? 'not_live' : 'fenced', role === 'secondary' ? 'this node is the secondary; send requests to the primary' : 'this node lost arbitration and serves nothing');
      req.resume();
      return;
    }
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > bodyBytesMax) {
      jsonError(res, 413, role, 'body_too_large', `request body of ${declared} bytes exceeds the limit of ${bodyBytesMax} bytes (--body-bytes-max)`);
      res.on('finish', () => req.destroy());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    req.on('data', (chunk: Buffer) => {
      if (refused) return;
      size += chunk.length;
      if (size > bodyBytesMax) {
        refused = true;
        jsonError(res, 413, role, 'body_too_large', `request body exceeds the limit of ${bodyBytesMax} bytes (--body-bytes-max)`);
        res.on('finish', () => req.destroy());
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (refused) return;
      const request: IncomingRequest = { method: req.method ?? 'GET', path: req.url ?? '/', headers: headerPairs(req), body: bodyOf(chunks, size) };
      recordMetrics.inputBytes(requestBytes(request));
      const abandon = new Abandonment();
      const timer = setTimeout(() => {
        jsonError(res, 504, handler.role(), 'guest_timeout', `the guest did not answer within ${responseTimeoutMs} ms`);
        abandon.abandon();
      }, responseTimeoutMs);
      res.once('close', () => abandon.abandon()); // answered, or the client left: either way nobody waits any more
      batch.add(() => {
        let answer: Promise<StoredAnswer>;
        try {
          answer = handler.handle(request, abandon);
        } catch (error) {
          clearTimeout(timer);
          jsonError(res, 503, handler.role(), 'unavailable', error instanceof Error ? error.message : String(error));
          return;
        }
        answer.then(
          (a) => {
            clearTimeout(timer);
            send(res, a.status, a.headers, a.body, handler.role(), handler.epoch());
          },
          (error) => {
            clearTimeout(timer);
            jsonError(res, 503, handler.role(), 'unavailable', error instanceof Error ? error.message : String(error));
          },
        );
      });
    });
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) => reject(listenError(error, 'HTTP service', options.host, options.port)));
    server.listen(options.port, options.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
