// The fault-injecting proxy on real loopback sockets: bytes pass, a cut resets and refuses, a
// blackhole holds bytes (the connection stays open) and delivers them on heal, a slow link delays.
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { LinkProxy } from '../../src/chaos/link-proxy.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0)) await c();
});

/** An echo server behind a proxy, and a connected client that collects what comes back. */
async function setup() {
  const serverSides: net.Socket[] = [];
  const echo = net.createServer((s) => {
    s.on('error', () => {}); // the proxy resets connections on purpose
    serverSides.push(s);
    s.pipe(s);
  });
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', () => r()));
  const proxy = new LinkProxy({ host: '127.0.0.1', port: (echo.address() as net.AddressInfo).port });
  await proxy.listen();
  const client = net.connect(proxy.port, '127.0.0.1');
  await new Promise<void>((r) => client.once('connect', () => r()));
  let received = '';
  let closed = false;
  client.on('data', (d) => (received += d.toString()));
  client.on('error', () => {});
  client.on('close', () => (closed = true));
  cleanup.push(async () => {
    client.destroy();
    await proxy.close();
    await new Promise<void>((r) => echo.close(() => r()));
  });
  return { proxy, client, received: () => received, closed: () => closed, serverSides };
}

async function until(check: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(5);
  }
}

describe('LinkProxy', () => {
  it('passes bytes both ways', async () => {
    const { client, received } = await setup();
    client.write('hello');
    await until(() => received() === 'hello');
  });

  it('blackhole: a side that closes is not seen to close until the link heals (no packet, no FIN)', async () => {
    const { proxy, closed, serverSides } = await setup();
    await until(() => serverSides.length === 1);
    proxy.set({ kind: 'blackhole' });
    serverSides[0]!.destroy();
    await sleep(200);
    expect(closed()).toBe(false);
    proxy.set({ kind: 'pass' });
    await until(() => closed());
  });

  it('blackhole: holds bytes without closing, delivers them in order on heal', async () => {
    const { proxy, client, received, closed } = await setup();
    proxy.set({ kind: 'blackhole' });
    client.write('a');
    client.write('b');
    await sleep(200);
    expect(received()).toBe('');
    expect(closed()).toBe(false);
    proxy.set({ kind: 'pass' });
    await until(() => received() === 'ab');
  });

  it('slow: delivers late, in order', async () => {
    const { proxy, client, received } = await setup();
    proxy.set({ kind: 'slow', delayMs: 150 });
    const t0 = Date.now();
    client.write('1');
    client.write('2');
    await until(() => received() === '12');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
  });

  it('cut: resets open connections and refuses new ones until healed', async () => {
    const { proxy, closed } = await setup();
    proxy.set({ kind: 'cut' });
    await until(() => closed());
    const refused = await new Promise<boolean>((r) => {
      const s = net.connect(proxy.port, '127.0.0.1');
      s.on('data', () => r(false));
      s.on('error', () => r(true));
      s.on('close', () => r(true));
    });
    expect(refused).toBe(true);
    proxy.set({ kind: 'pass' });
    const again = net.connect(proxy.port, '127.0.0.1');
    let echoed = '';
    again.on('data', (d) => (echoed += d.toString()));
    again.write('back');
    await until(() => echoed === 'back');
    again.destroy();
  });
});
