// A fault-injecting TCP proxy for the logging channel (node:net): placed between a secondary and
// its primary's logging port, it passes bytes through, or cuts the link (resets and refuses
// connections), blackholes it (holds every byte, connections stay open, as a network dropping
// packets under TCP retransmission would: a side that closes meanwhile is not seen to close until the
// link heals), or slows it (every byte arrives late, in order).
import net from 'node:net';

/** Bytes held per direction before the proxy stops reading (TCP back-pressure, not unbounded memory). */
export const PROXY_HELD_BYTES_MAX = 16 * 1024 * 1024;

export type LinkMode = { kind: 'pass' } | { kind: 'cut' } | { kind: 'blackhole' } | { kind: 'slow'; delayMs: number };

interface Chunk {
  data: Buffer;
  /** When it may be delivered; undefined while blackholed. */
  dueMs: number | undefined;
}

/** One direction of one connection: an ordered queue of chunks with delivery times. */
class Direction {
  private readonly queue: Chunk[] = [];
  private heldBytes = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly from: net.Socket, private readonly to: net.Socket, private readonly mode: () => LinkMode) {
    from.on('data', (data: Buffer) => this.push(data));
  }

  private push(data: Buffer): void {
    const mode = this.mode();
    if (mode.kind === 'pass' && this.queue.length === 0) {
      this.to.write(data);
      return;
    }
    const dueMs = mode.kind === 'blackhole' ? undefined : Date.now() + (mode.kind === 'slow' ? mode.delayMs : 0);
    this.queue.push({ data, dueMs });
    this.heldBytes += data.length;
    if (this.heldBytes > PROXY_HELD_BYTES_MAX) this.from.pause();
    this.drain();
  }

  /** The mode changed: held chunks become due now (a healed blackhole delivers what it held). */
  release(): void {
    const now = Date.now();
    for (const chunk of this.queue) if (chunk.dueMs === undefined) chunk.dueMs = now;
    this.drain();
  }

  private drain(): void {
    clearTimeout(this.timer);
    const now = Date.now();
    while (this.queue.length > 0) {
      const head = this.queue[0]!;
      if (head.dueMs === undefined) return; // blackholed: wait for release()
      if (head.dueMs > now) {
        this.timer = setTimeout(() => this.drain(), head.dueMs - now);
        return;
      }
      this.queue.shift();
      this.heldBytes -= head.data.length;
      if (!this.to.destroyed) this.to.write(head.data);
    }
    if (this.from.isPaused() && this.heldBytes <= PROXY_HELD_BYTES_MAX / 2) this.from.resume();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.queue.length = 0;
  }
}

interface ProxiedLink {
  client: net.Socket;
  upstream: net.Socket;
  directions: Direction[];
  /** One side closed while blackholed: the other learns it when the link heals. */
  closeHeld: boolean;
}

export class LinkProxy {
  private modeNow: LinkMode;
  private readonly server: net.Server;
  private readonly links = new Set<ProxiedLink>();
  port = 0;
  connections = 0;

  /** `base`: the link's healthy state (pass, or slow for a link with a real round trip); faults heal back to it. */
  constructor(
    readonly target: { host: string; port: number },
    readonly base: LinkMode = { kind: 'pass' },
  ) {
    this.modeNow = base;
    this.server = net.createServer((client) => this.accept(client));
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => resolve());
    });
    this.port = (this.server.address() as net.AddressInfo).port;
    return this.port;
  }

  get mode(): LinkMode {
    return this.modeNow;
  }

  /** The fault is over: back to the link's healthy state. */
  heal(): void {
    this.set(this.base);
  }

  set(mode: LinkMode): void {
    this.modeNow = mode;
    if (mode.kind === 'cut') {
      for (const link of this.links) this.drop(link);
      return;
    }
    for (const link of [...this.links]) {
      for (const d of link.directions) d.release();
      if (link.closeHeld && mode.kind !== 'blackhole') this.drop(link);
    }
  }

  private accept(client: net.Socket): void {
    client.on('error', () => {}); // resets are what this proxy is for
    if (this.modeNow.kind === 'cut') {
      abort(client);
      return;
    }
    this.connections++;
    const upstream = net.connect(this.target.port, this.target.host);
    const mode = () => this.modeNow;
    const link: ProxiedLink = { client, upstream, directions: [new Direction(client, upstream, mode), new Direction(upstream, client, mode)], closeHeld: false };
    this.links.add(link);
    const close = () => {
      if (this.modeNow.kind === 'blackhole') link.closeHeld = true;
      else this.drop(link);
    };
    for (const socket of [client, upstream]) {
      socket.setNoDelay(true);
      socket.on('error', close);
      socket.on('close', close);
    }
  }

  private drop(link: ProxiedLink): void {
    if (!this.links.delete(link)) return;
    for (const d of link.directions) d.stop();
    abort(link.client);
    abort(link.upstream);
  }

  async close(): Promise<void> {
    for (const link of [...this.links]) this.drop(link);
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/**
 * Ends a connection as a dropped network would (a reset), but only a plain open one: a reset while a
 * graceful shutdown (its end) or the connect is still pending left the native handle referenced, and
 * the process then spun at 100% CPU in its exit-time cleanup forever (seen: a chaos run that had
 * written its summary never exited; gdb showed node::Environment::CleanupHandles). Those are destroyed.
 */
function abort(socket: net.Socket): void {
  if (socket.destroyed) return;
  if (socket.connecting || socket.writableEnded) socket.destroy();
  else socket.resetAndDestroy();
}
