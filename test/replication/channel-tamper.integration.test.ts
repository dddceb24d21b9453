// A man in the middle of a real pair: a TCP proxy between the secondary and the primary's logging
// channel that understands WebSocket framing, so it can hold the secondary's frames, inject a
// forged ack, or replay a frame the secondary really sent. Every such frame must be refused and
// counted, and an answer waiting for a real ack must not be released by a forged one. Also: idle
// unauthenticated connections to the logging port must not lock a real secondary out.
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import net from 'node:net';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { encodeMessage } from '../../src/channel/messages.js';
import {
  assertBuilt, increment, sleep, startPrimary, startSecondary, status, tempDir, waitUntil,
  type HttpAnswer, type StartedNode,
} from './helpers.js';

/** One binary WebSocket frame of up to 64 KiB: masked as a client must send it, or unmasked as a server does. */
function wsFrame(payload: Uint8Array, from: 'client' | 'server'): Buffer {
  const maskBit = from === 'client' ? 0x80 : 0;
  const length = payload.length;
  const header = length < 126
    ? Buffer.from([0x82, maskBit | length])
    : Buffer.from([0x82, maskBit | 126, length >> 8, length & 0xff]);
  if (from === 'server') return Buffer.concat([header, payload]);
  const mask = randomBytes(4);
  return Buffer.concat([header, mask, Buffer.from(payload).map((byte, i) => byte ^ mask[i % 4]!)]);
}

/** Splits one direction's byte stream into its HTTP upgrade request (or response) and then whole WebSocket frames. */
class WsFrames {
  private pending = Buffer.alloc(0);
  private upgraded = false;

  /** Feeds bytes; returns every complete unit (the upgrade request, then one frame each). */
  push(chunk: Buffer): Buffer[] {
    this.pending = Buffer.concat([this.pending, chunk]);
    const out: Buffer[] = [];
    for (;;) {
      const size = this.nextSize();
      if (size === undefined || size > this.pending.length) return out;
      out.push(this.pending.subarray(0, size));
      this.pending = this.pending.subarray(size);
    }
  }

  private nextSize(): number | undefined {
    const p = this.pending;
    if (!this.upgraded) {
      const end = p.indexOf('\r\n\r\n');
      if (end < 0) return undefined;
      this.upgraded = true;
      return end + 4;
    }
    if (p.length < 2) return undefined;
    const masked = (p[1]! & 0x80) !== 0;
    let length = p[1]! & 0x7f;
    let offset = 2;
    if (length === 126) {
      if (p.length < 4) return undefined;
      length = p.readUInt16BE(2);
      offset = 4;
    } else if (length === 127) {
      if (p.length < 10) return undefined;
      length = Number(p.readBigUInt64BE(2));
      offset = 10;
    }
    return offset + (masked ? 4 : 0) + length;
  }
}

/**
 * Forwards each connection from the secondary to the primary's logging port. In 'forward' mode it
 * passes whole frames; in 'blackhole' mode it passes nothing either way and closes nothing (a hung
 * path). `inject` / `injectToSecondary` write a frame between two whole frames of that direction.
 */
class ChannelProxy {
  mode: 'forward' | 'blackhole' = 'forward';
  /** Whole frames the secondary sent on the newest connection: [0] is the HTTP upgrade, [1] auth, then sealed frames. */
  fromSecondary: Buffer[] = [];
  private toPrimary: net.Socket | undefined;
  private toSecondary: net.Socket | undefined;
  private readonly sockets: net.Socket[] = [];
  private readonly server: net.Server;
  port = 0;

  constructor(private readonly primaryPort: number) {
    this.server = net.createServer((secondary) => this.connection(secondary));
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
    return this.port;
  }

  inject(frame: Buffer): void {
    if (!this.toPrimary) throw new Error('no connection to inject into');
    this.toPrimary.write(frame);
  }

  injectToSecondary(frame: Buffer): void {
    if (!this.toSecondary) throw new Error('no connection to inject into');
    this.toSecondary.write(frame);
  }

  close(): void {
    for (const socket of this.sockets) socket.destroy();
    this.server.close();
  }

  private connection(secondary: net.Socket): void {
    const primary = net.connect(this.primaryPort, '127.0.0.1');
    this.sockets.push(secondary, primary);
    this.toPrimary = primary;
    this.toSecondary = secondary;
    this.fromSecondary = [];
    const upstream = new WsFrames();
    const downstream = new WsFrames();
    const recorded = this.fromSecondary;
    secondary.on('data', (chunk: Buffer) => {
      for (const unit of upstream.push(chunk)) {
        recorded.push(Buffer.from(unit));
        if (this.mode === 'forward') primary.write(unit);
      }
    });
    primary.on('data', (chunk: Buffer) => {
      for (const unit of downstream.push(chunk)) if (this.mode === 'forward') secondary.write(unit);
    });
    for (const [from, to] of [[secondary, primary], [primary, secondary]] as const) {
      from.on('error', () => undefined);
      from.on('close', () => {
        if (this.mode === 'forward') to.destroy();
      });
    }
  }
}

let dir: string;
const cleanups: Array<() => unknown> = [];
beforeAll(() => assertBuilt());
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A primary, a proxy in front of its logging port, a secondary through the proxy; resolves once protected. */
async function pairThroughProxy(failureTimeoutMs: number): Promise<{ primary: StartedNode; secondary: StartedNode; proxy: ChannelProxy }> {
  dir = await tempDir('tamper');
  const primary = await startPrimary({ dir, heartbeatMs: 50, failureTimeoutMs });
  cleanups.push(() => primary.proc.kill());
  const proxy = new ChannelProxy(primary.logPort);
  await proxy.listen();
  cleanups.push(() => proxy.close());
  const secondary = await startSecondary({ dir, primaryUrl: `ws://127.0.0.1:${proxy.port}`, heartbeatMs: 50, failureTimeoutMs });
  cleanups.push(() => secondary.proc.kill());
  await waitUntil(async () => (await status(primary.url))?.protection === 'protected', 15_000, 'primary protected');
  return { primary, secondary, proxy };
}

describe('a man in the middle of the logging channel', () => {
  it('a forged ack does not release an answer waiting for the real one: it is refused, and the answer leaves only after the claim', async () => {
    // A long failure timeout: nothing but the forged frame can make the primary act within it.
    const { primary, proxy } = await pairThroughProxy(4000);
    expect((await increment(primary.url, 'before')).status).toBe(200); // the pair works through the proxy
    await waitUntil(async () => (await status(primary.url))?.outputsWaiting === 0, 5000, 'nothing waiting');

    proxy.mode = 'blackhole'; // the secondary's acks (and everything else) stop here
    let answeredAt = 0;
    const pending = increment(primary.url, 'waits-for-ack', 15_000).then((answer) => {
      answeredAt = performance.now();
      return answer;
    });
    let waitingSeq = 0;
    await waitUntil(async () => {
      const s = await status(primary.url);
      waitingSeq = (s?.lastSeq as number) ?? 0;
      return (s?.outputsWaiting as number) >= 1;
    }, 3000, 'the answer waits for an ack');
    const ackedBefore = (await status(primary.url))?.ackedSeq as number;
    expect(ackedBefore).toBeLessThan(waitingSeq);

    // What an attacker on the path writes: an ack that covers the waiting answer.
    const injectedAt = performance.now();
    proxy.inject(wsFrame(encodeMessage({ type: 'ack', seq: waitingSeq, replayedSeq: 0, token: 0 }), 'client'));
    const refused = /secondary failed \(protocol: Channel frame refused.*\[LOCKSTEP_CHANNEL_FORGED\]\); claiming epoch 1/;
    await Promise.race([primary.proc.waitFor(refused, 20_000).catch(() => undefined), pending]);
    // The forged ack never reached the output rule: the primary's acked position did not move.
    expect((await status(primary.url))?.ackedSeq, 'the forged ack was taken as the secondary\'s').toBe(ackedBefore);
    // The refusal, not the 4 s silence, ended the attachment: the line names the forged frame (a
    // silence would say "no frame for 4000 ms"), however long the machine took to get there.
    await primary.proc.waitFor(refused, 20_000);
    expect(primary.proc.stderr).not.toMatch(/secondary failed \(no frame for/);
    // The answer leaves only because the primary won the claim and went on alone, as after any failure.
    const answer: HttpAnswer = await pending;
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toEqual({ count: 2 });
    await primary.proc.waitFor(/won epoch 1; going on alone/, 20_000);
    expect(answeredAt).toBeGreaterThan(injectedAt);
  });

  it('a replayed frame the secondary really sent is refused', async () => {
    const { primary, proxy } = await pairThroughProxy(2000);
    expect((await increment(primary.url, 'before')).status).toBe(200);
    await sleep(200); // several heartbeats and an ack have gone through
    expect(proxy.fromSecondary.length).toBeGreaterThan(4);
    // [0] is the HTTP upgrade, [1] auth; [2] is the secondary's first sealed frame (counter 0).
    proxy.inject(proxy.fromSecondary[2]!);
    await primary.proc.waitFor(/secondary failed \(protocol: Channel frame refused.*expected frame #\d+ but got frame #0 again \(a replay\).*\[LOCKSTEP_CHANNEL_FORGED\]\)/, 2000);
  });

  it('a forged batch injected toward the secondary is refused before anything in it is used', async () => {
    const { secondary, proxy } = await pairThroughProxy(2000);
    const next = ((await status(secondary.url))?.receivedSeq as number) + 1;
    proxy.injectToSecondary(wsFrame(encodeMessage({ type: 'batch', firstSeq: next, count: 1, payload: randomBytes(40), token: 0 }), 'server'));
    await secondary.proc.waitFor(/refused a frame from the primary: Channel frame refused.*tag does not verify.*\[LOCKSTEP_CHANNEL_FORGED\]/, 20_000);
    expect(secondary.proc.stderr).not.toMatch(/LOCKSTEP_CHANNEL_SEQ|diverged/i);
  });
});

describe('idle strangers on the logging port', () => {
  it('more idle unauthenticated connections than the handshake table holds do not lock a real secondary out', async () => {
    dir = await tempDir('idle-strangers');
    const primary = await startPrimary({ dir, heartbeatMs: 50, failureTimeoutMs: 1000 });
    cleanups.push(() => primary.proc.kill());
    // 10 WebSockets that complete the upgrade, read hello and never authenticate (and come back when
    // closed), plus 3 TCP connections that never even send HTTP.
    let stopped = false;
    const strangers: Array<WebSocket | net.Socket> = [];
    const idleWebSocket = () => {
      if (stopped) return;
      const ws = new WebSocket(`ws://127.0.0.1:${primary.logPort}`, { perMessageDeflate: false });
      strangers.push(ws);
      ws.on('error', () => undefined);
      ws.on('close', () => setTimeout(idleWebSocket, 100));
    };
    for (let i = 0; i < 10; i++) idleWebSocket();
    for (let i = 0; i < 3; i++) {
      const socket = net.connect(primary.logPort, '127.0.0.1');
      socket.on('error', () => undefined);
      strangers.push(socket);
    }
    cleanups.push(() => {
      stopped = true;
      for (const s of strangers) (s instanceof WebSocket ? s.terminate() : s.destroy());
    });
    await waitUntil(() => strangers.length >= 13, 20_000, 'strangers connected');
    await sleep(300); // every stranger has upgraded and holds a handshake place

    const secondary = await startSecondary({ dir, primaryUrl: `ws://127.0.0.1:${primary.logPort}`, heartbeatMs: 50, failureTimeoutMs: 1000 });
    cleanups.push(() => secondary.proc.kill());
    // The strangers come back whenever closed, so the table stays full all along: the secondary gets
    // in because the newest connection always gets a place, not because the strangers timed out.
    await waitUntil(async () => (await status(primary.url))?.protection === 'protected', 5000, 'primary protected');
    expect((await increment(primary.url, 'protected')).status).toBe(200);
    expect(secondary.proc.stderr).not.toMatch(/LOCKSTEP_CHANNEL_PROTOCOL/);
    // The table was full: strangers were closed (retryable BUSY) to make room.
    await primary.proc.waitFor(/handshake table was full.*\[LOCKSTEP_CHANNEL_BUSY\]/, 20_000);
  });
});
