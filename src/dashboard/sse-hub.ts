// Server-sent events to the dashboard's browsers: one long response per page, a named event per
// update, a comment now and then so proxies keep the connection open. Bounded in clients.
import type { ServerResponse } from 'node:http';

/** Pages connected at once; past it, a new page gets 503 (a dashboard is for a few people). */
export const SSE_CLIENTS_MAX = 32;
export const SSE_KEEPALIVE_MS = 15_000;

export class SseHub {
  private readonly clients = new Set<ServerResponse>();
  private readonly keepalive: NodeJS.Timeout;

  constructor() {
    this.keepalive = setInterval(() => this.writeAll(': keepalive\n\n'), SSE_KEEPALIVE_MS);
    this.keepalive.unref();
  }

  /** Takes over `res` as an event stream and sends `first` at once; false if there are too many pages. */
  add(res: ServerResponse, first: { event: string; data: unknown }): boolean {
    if (this.clients.size >= SSE_CLIENTS_MAX) return false;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
    res.write(`retry: 1000\n\n${frame(first.event, first.data)}`);
    this.clients.add(res);
    res.on('close', () => this.clients.delete(res));
    return true;
  }

  send(event: string, data: unknown): void {
    this.writeAll(frame(event, data));
  }

  get size(): number {
    return this.clients.size;
  }

  close(): void {
    clearInterval(this.keepalive);
    for (const res of this.clients) res.end();
    this.clients.clear();
  }

  private writeAll(text: string): void {
    for (const res of this.clients) res.write(text);
  }
}

function frame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}
