// The logging channel over real sockets on 127.0.0.1: mutual auth, batches and acks, refusals
// (secret, garbage, size, busy, incompatible), heartbeats and silence, retry, bye and fencing.

import { connect, createServer as createNetServer } from 'node:net';
import { performance } from 'node:perf_hooks';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { ChannelClient, type ChannelClientOptions } from '../../src/channel/channel-client.js';
import { ChannelServer, type ChannelServerOptions, type DetachReason, type PeerInfo } from '../../src/channel/channel-server.js';
import type { ChannelError } from '../../src/channel/errors.js';
import { CHANNEL_PROTOCOL_VERSION, decodeMessage, encodeMessage, type ChannelMessage, type Welcome } from '../../src/channel/messages.js';
import { ChannelSecret } from '../../src/channel/secret.js';
import type { LogHeader } from '../../src/log/entries.js';

const header: LogHeader = {
  formatVersion: 1,
  runtime: 'quickjs-test',
  programHash: 'ab'.repeat(32),
  programName: 'guest.js',
  limits: { memoryBytesMax: 1 << 26, stackBytesMax: 1 << 20, cpuPollsPerEventMax: 1000 },
  createdAtMs: 1_700_000_000_000,
};

/** Stand-in for codec.checkHeaderCompatible: throws naming the field that differs. */
function compatible(mine: LogHeader, theirs: LogHeader): void {
  for (const key of ['formatVersion', 'runtime', 'programHash'] as const) {
    if (mine[key] !== theirs[key]) throw new Error(`${key} differs: mine ${mine[key]}, theirs ${theirs[key]}`);
  }
}

const secret = ChannelSecret.random();
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function waitFor(what: string, condition: () => boolean, timeoutMs = 2000): Promise<void> {
  const start = performance.now();
  while (!condition()) {
    if (performance.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function startServer(options: Partial<ChannelServerOptions> = {}) {
  const log = { attached: [] as PeerInfo[], acks: [] as number[], detached: [] as DetachReason[], silent: 0, refused: [] as ChannelError[] };
  const server = new ChannelServer({
    host: '127.0.0.1', port: 0, secret, header, compatible,
    heartbeatIntervalMs: 50, failureTimeoutMs: 400, authTimeoutMs: 500,
    onAttach: (peer) => log.attached.push(peer),
    onAck: (seq) => log.acks.push(seq),
    onDetach: (reason) => log.detached.push(reason),
    onPeerSilent: () => log.silent++,
    onRefused: (error) => log.refused.push(error),
    ...options,
  });
  const { port } = await server.listen();
  cleanups.push(() => server.close());
  return { server, port, log };
}

function startClient(port: number, options: Partial<ChannelClientOptions> = {}) {
  const log = {
    batches: [] as Array<[number, number, number[]]>,
    welcomes: [] as Welcome[],
    refused: [] as string[],
    errors: [] as ChannelError[],
    byes: [] as string[],
    silent: 0,
  };
  let have = 0;
  const client = new ChannelClient({
    url: `ws://127.0.0.1:${port}`, secret, header, compatible,
    haveSeq: () => have,
    retryIntervalMs: 20, retryIntervalMaxMs: 100, heartbeatIntervalMs: 50, failureTimeoutMs: 400, authTimeoutMs: 500,
    onBatch: (firstSeq, count, payload) => {
      log.batches.push([firstSeq, count, [...payload]]);
      have = firstSeq + count - 1;
    },
    onConnected: (welcome) => log.welcomes.push(welcome),
    onRefused: (code) => log.refused.push(code),
    onError: (error) => log.errors.push(error),
    onBye: (reason) => log.byes.push(reason),
    onPeerSilent: () => log.silent++,
    ...options,
  });
  client.start();
  cleanups.push(() => client.stop());
  return { client, log, setHave: (seq: number) => (have = seq) };
}

/** A raw WebSocket to the server that records what it is told. */
async function rawPeer(port: number) {
  const ws = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false });
  const received: ChannelMessage[] = [];
  let closeCode = 0;
  ws.on('message', (data) => received.push(decodeMessage(data as Buffer, 'server')));
  ws.on('close', (code) => (closeCode = code));
  ws.on('error', () => undefined);
  await new Promise((resolve) => ws.once('open', resolve));
  cleanups.push(() => ws.terminate());
  return { ws, received, closeCode: () => closeCode };
}

const bytes = (n: number, fill: number) => new Uint8Array(n).fill(fill);

describe('ChannelServer + ChannelClient', () => {
  it('authenticates both ways, streams batches in order, and acks cover every seq', async () => {
    const { server, port, log } = await startServer({ epoch: 3 });
    const { client, log: clog } = startClient(port);
    await waitFor('attach', () => log.attached.length === 1 && clog.welcomes.length === 1);
    expect(log.attached[0]).toMatchObject({ haveSeq: 0, address: expect.stringMatching(/^127\.0\.0\.1:\d+$/) });
    expect(clog.welcomes[0]).toMatchObject({ startSeq: 1, epoch: 3, header });

    expect(server.sendBatch(1, 2, bytes(10, 1))).toBe(true);
    expect(server.sendBatch(3, 1, bytes(20, 2))).toBe(true);
    expect(server.sendBatch(4, 3, bytes(30, 3))).toBe(true);
    expect(server.unackedBytes).toBe(60); // nothing can have been acked yet: we have not yielded
    await waitFor('acks', () => log.acks.at(-1) === 6);
    expect(clog.batches.map(([first, count, payload]) => [first, count, payload.length, payload[0]])).toEqual([
      [1, 2, 10, 1],
      [3, 1, 20, 2],
      [4, 3, 30, 3],
    ]);
    expect(log.acks).toEqual([...log.acks].sort((a, b) => a - b));
    expect(server.unackedBytes).toBe(0);
    await waitFor('rtt', () => server.stats.rttMs !== null && client.stats.rttMs !== null);
    expect(server.stats).toMatchObject({ lastAckSeq: 6, unackedBytes: 0 });
    expect(server.stats.bytesSent).toBeGreaterThan(60);
    expect(client.stats.lastAckSeq).toBe(6);
  });

  it('resumes a secondary from the seq it already holds', async () => {
    const { server, port, log } = await startServer();
    const { log: clog, setHave } = startClient(port, {});
    setHave(0);
    await waitFor('attach', () => log.attached.length === 1);
    server.dropSecondary('test: make it reconnect');
    setHave(41);
    await waitFor('reattach', () => log.attached.length === 2 && clog.welcomes.length === 2);
    expect(log.attached[1]!.haveSeq).toBe(41);
    expect(clog.welcomes[1]!.startSeq).toBe(42);
    server.sendBatch(42, 1, bytes(1, 9));
    await waitFor('ack 42', () => log.acks.includes(42));
  });

  it('refuses a client with the wrong secret, and the client does not retry', async () => {
    const { port, log } = await startServer();
    const { client, log: clog } = startClient(port, { secret: ChannelSecret.random() });
    await waitFor('refusal', () => clog.refused.length === 1 && log.refused.length === 1);
    expect(clog.refused).toEqual(['LOCKSTEP_CHANNEL_AUTH']);
    expect(log.refused[0]!.code).toBe('LOCKSTEP_CHANNEL_AUTH');
    expect(log.refused[0]!.message).toMatch(/127\.0\.0\.1:\d+.*same channel\.secret/);
    expect(log.attached).toEqual([]);
    await sleep(150);
    expect(client.state).toBe('stopped');
    expect(log.refused.length).toBe(1);
  });

  it('refuses garbage, text, misshapen and oversized frames, and junk TCP; then accepts a good client', async () => {
    const { server, port, log } = await startServer({ frameBytesMax: 1024 });
    const garbage = await rawPeer(port);
    garbage.ws.send(Buffer.from([0xc1, 0xff, 0x00, 0x13]));
    const misshapen = await rawPeer(port);
    misshapen.ws.send(encodeMessage({ type: 'ack', seq: 1 }));
    const text = await rawPeer(port);
    text.ws.send('hello?');
    const huge = await rawPeer(port);
    huge.ws.send(bytes(4096, 0));
    const junk = connect(port, '127.0.0.1', () => junk.write('\x00\x01 definitely not HTTP\r\n\r\n'));
    junk.on('error', () => undefined);
    cleanups.push(() => junk.destroy());

    await waitFor('five refusals', () => log.refused.length === 5);
    const codes = log.refused.map((e) => e.code).sort();
    expect(codes).toEqual(['LOCKSTEP_CHANNEL_FRAME_TOO_LARGE', ...Array(4).fill('LOCKSTEP_CHANNEL_PROTOCOL')]);
    expect(log.refused.map((e) => e.message).join('\n')).toMatch(/expected auth, got ack/);
    await waitFor('refuse frames', () => garbage.received.length === 2 && misshapen.closeCode() !== 0 && huge.closeCode() !== 0);
    expect(garbage.received[1]).toMatchObject({ type: 'refuse', code: 'LOCKSTEP_CHANNEL_PROTOCOL' });
    expect(misshapen.received.at(-1)).toMatchObject({ type: 'refuse', code: 'LOCKSTEP_CHANNEL_PROTOCOL' });
    expect(huge.closeCode()).toBe(1009);

    const { log: clog } = startClient(port, { frameBytesMax: 1024 });
    await waitFor('good client attached', () => log.attached.length === 1);
    server.sendBatch(1, 1, bytes(100, 7));
    await waitFor('ack', () => log.acks.at(-1) === 1);
    expect(clog.batches.length).toBe(1);
    expect(() => server.sendBatch(2, 1, bytes(2000, 7))).toThrow(/frameBytesMax 1024/);
  });

  it('refuses a second secondary BUSY while the first keeps working', async () => {
    const { server, port, log } = await startServer();
    const first = startClient(port);
    await waitFor('first attached', () => log.attached.length === 1);
    const second = startClient(port);
    await waitFor('busy', () => second.log.refused.length >= 1);
    expect(second.log.refused[0]).toBe('LOCKSTEP_CHANNEL_BUSY');
    expect(log.refused[0]!.code).toBe('LOCKSTEP_CHANNEL_BUSY');
    expect(second.client.state).toBe('connecting'); // busy is worth retrying
    server.sendBatch(1, 5, bytes(5, 1));
    await waitFor('first acks', () => log.acks.at(-1) === 5);
    expect(first.log.batches.length).toBe(1);
    expect(second.log.batches.length).toBe(0);
    expect(log.attached.length).toBe(1);
  });

  it('refuses an incompatible header naming what differs, for good', async () => {
    const { port, log } = await startServer();
    let message = '';
    const { client } = startClient(port, {
      header: { ...header, programHash: 'cd'.repeat(32) },
      onRefused: (_code, text) => (message = text),
    });
    await waitFor('refusal', () => message !== '');
    expect(log.refused[0]!.code).toBe('LOCKSTEP_CHANNEL_INCOMPATIBLE');
    expect(message).toMatch(/programHash differs/);
    await sleep(150);
    expect(client.state).toBe('stopped');
    expect(log.refused.length).toBe(1);
  });

  it('heartbeats keep an idle link alive; a paused peer is declared silent within the timeout', async () => {
    const { server, port, log } = await startServer();
    const { client, log: clog } = startClient(port);
    await waitFor('attach', () => log.attached.length === 1);
    await sleep(900); // more than twice failureTimeoutMs, no batches
    expect(log.silent + clog.silent).toBe(0);
    expect(log.detached).toEqual([]);

    let start = performance.now();
    client.pauseHeartbeats();
    await waitFor('server sees silence', () => log.silent === 1, 1500);
    let elapsed = performance.now() - start;
    expect(elapsed).toBeGreaterThan(400 - 60); // the last beat may have left just before the pause
    expect(elapsed).toBeLessThan(400 + 250);
    expect(log.detached).toEqual(['silent']);

    await waitFor('reattach', () => log.attached.length === 2); // client retries after the drop
    start = performance.now();
    server.pauseHeartbeats();
    await waitFor('client sees silence', () => clog.silent === 1, 1500);
    elapsed = performance.now() - start;
    expect(elapsed).toBeGreaterThan(400 - 60);
    expect(elapsed).toBeLessThan(400 + 250);
  });

  it('retries until the primary starts later', async () => {
    const probe = createNetServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as { port: number }).port;
    await new Promise((resolve) => probe.close(resolve));

    const { client, log: clog } = startClient(port);
    await sleep(300);
    expect(client.state).toBe('connecting');
    const { log } = await startServer({ port });
    await waitFor('attach', () => log.attached.length === 1 && clog.welcomes.length === 1);
    expect(client.state).toBe('connected');
  });

  it('delivers bye and the client stops', async () => {
    const { server, port, log } = await startServer();
    const { client, log: clog } = startClient(port);
    await waitFor('attach', () => log.attached.length === 1);
    await server.sendBye('planned maintenance');
    await waitFor('bye', () => clog.byes.length === 1);
    expect(clog.byes).toEqual(['planned maintenance']);
    expect(log.detached).toEqual(['bye']);
    await sleep(100);
    expect(client.state).toBe('stopped');
    expect(log.attached.length).toBe(1);
  });

  it('sends no ack once fenced, even for a batch already received', async () => {
    const { server, port, log } = await startServer();
    let client: ChannelClient | undefined;
    ({ client } = startClient(port, {
      onBatch: (firstSeq) => {
        if (firstSeq === 2) client!.fence();
      },
    }));
    await waitFor('attach', () => log.attached.length === 1);
    server.sendBatch(1, 1, bytes(1, 1));
    await waitFor('ack 1', () => log.acks.at(-1) === 1);
    server.sendBatch(2, 1, bytes(1, 2));
    await waitFor('detach', () => log.detached.length === 1);
    await sleep(150);
    expect(log.acks).toEqual([1]);
    expect(client.state).toBe('stopped');
    expect(log.attached.length).toBe(1); // and it does not come back
  });
});

/** A hand-written primary: lets us send what a correct ChannelServer never would. */
async function fakePrimary(serverSecret: ChannelSecret, afterWelcome: (send: (m: ChannelMessage) => void) => void) {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  await new Promise((resolve) => wss.once('listening', resolve));
  cleanups.push(() => new Promise((resolve) => wss.close(resolve)));
  const received: ChannelMessage[] = [];
  wss.on('connection', (ws) => {
    cleanups.push(() => ws.terminate());
    const serverNonce = new Uint8Array(32).fill(9);
    const send = (m: ChannelMessage) => ws.send(encodeMessage(m));
    ws.on('message', (data) => {
      const m = decodeMessage(data as Buffer, 'client');
      received.push(m);
      if (m.type !== 'auth') return;
      send({ type: 'welcome', proof: serverSecret.proof(serverNonce, m.clientNonce, 'server'), header, startSeq: m.haveSeq + 1, epoch: 0, lastSeq: m.haveSeq });
      afterWelcome(send);
    });
    send({ type: 'hello', protocolVersion: CHANNEL_PROTOCOL_VERSION, serverNonce });
  });
  return { port: (wss.address() as { port: number }).port, received };
}

describe('ChannelClient against a misbehaving primary', () => {
  it('refuses a primary that does not know the secret', async () => {
    const fake = await fakePrimary(ChannelSecret.random(), () => undefined);
    const { client, log } = startClient(fake.port);
    await waitFor('error', () => log.errors.length === 1);
    expect(log.errors[0]!.code).toBe('LOCKSTEP_CHANNEL_AUTH');
    expect(log.welcomes).toEqual([]);
    await waitFor('refuse frame', () => fake.received.some((m) => m.type === 'refuse'));
    expect(fake.received.find((m) => m.type === 'refuse')).toMatchObject({ code: 'LOCKSTEP_CHANNEL_AUTH' });
    expect(client.state).toBe('stopped');
  });

  it.each([
    ['gap', 3, /gap.*expected entry #2 next but got #3/],
    ['repeat', 1, /repeat.*expected entry #2 next but got #1/],
  ])('reports a seq %s instead of skipping it', async (_kind, secondSeq, pattern) => {
    const fake = await fakePrimary(secret, (send) => {
      send({ type: 'batch', firstSeq: 1, count: 1, payload: bytes(1, 1) });
      send({ type: 'batch', firstSeq: secondSeq, count: 1, payload: bytes(1, 2) });
    });
    const { client, log } = startClient(fake.port);
    await waitFor('error', () => log.errors.length === 1);
    expect(log.errors[0]!.code).toBe('LOCKSTEP_CHANNEL_SEQ');
    expect(log.errors[0]!.message).toMatch(pattern);
    expect(log.batches.map(([first]) => first)).toEqual([1]);
    await waitFor('refuse frame', () => fake.received.some((m) => m.type === 'refuse'));
    expect(fake.received.find((m) => m.type === 'refuse')).toMatchObject({ code: 'LOCKSTEP_CHANNEL_SEQ' });
    expect(fake.received.filter((m) => m.type === 'ack')).toEqual([{ type: 'ack', seq: 1 }]);
    expect(client.state).toBe('stopped');
  });
});
