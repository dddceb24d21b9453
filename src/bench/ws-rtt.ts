// A bare WebSocket round trip on this machine, the floor under the output rule's added latency:
// a tiny ws echo server (pinned like the primary) and a client (pinned like the secondary)
// ping-ponging 35-byte msgpackr messages, one at a time. Both run as bench worker processes.
import { Packr } from 'msgpackr';
import { WebSocket, WebSocketServer } from 'ws';
import { percentile } from './stats.js';

export const WS_MESSAGE_BYTES = 35;

export interface WsEchoTask {
  kind: 'ws-echo';
}

export interface WsRttTask {
  kind: 'ws-rtt';
  url: string;
  warmupMs: number;
  durationMs: number;
}

export interface WsRttResult {
  roundTrips: number;
  messageBytes: number;
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
}

const packr = new Packr({ useRecords: false });

/** A message shaped like a channel ack, padded to exactly WS_MESSAGE_BYTES once encoded. */
export function rttMessage(seq: number): Buffer {
  // 2^31 + seq always encodes as a uint32 (5 bytes), so every message has the same size.
  const base = { t: 'ack', seq: 0x8000_0000 + seq, pad: '' };
  const size = packr.pack(base).length;
  return packr.pack({ ...base, pad: 'x'.repeat(Math.max(0, WS_MESSAGE_BYTES - size)) });
}

/** Echo server: prints {"port":N} once listening, echoes every message, runs until killed. */
export async function runWsEcho(): Promise<never> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  server.on('connection', (socket) => socket.on('message', (data, isBinary) => socket.send(data as Buffer, { binary: isBinary })));
  const address = server.address();
  process.stdout.write(JSON.stringify({ port: typeof address === 'object' && address ? address.port : 0 }) + '\n');
  return new Promise<never>(() => {});
}

export async function runWsRtt(task: WsRttTask): Promise<WsRttResult> {
  const socket = new WebSocket(task.url);
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  socket.binaryType = 'nodebuffer';
  let waiting: ((data: Buffer) => void) | undefined;
  socket.on('message', (data) => waiting?.(data as Buffer));
  const roundTrip = (seq: number) =>
    new Promise<number>((resolve) => {
      const sent = performance.now();
      waiting = (data) => {
        if (packr.unpack(data).seq !== 0x8000_0000 + seq) throw new Error('ws-rtt: echo out of order');
        resolve(performance.now() - sent);
      };
      socket.send(rttMessage(seq));
    });
  let seq = 0;
  const warmEnd = performance.now() + task.warmupMs;
  while (performance.now() < warmEnd) await roundTrip(seq++);
  const rtts: number[] = [];
  const end = performance.now() + task.durationMs;
  while (performance.now() < end || rtts.length < 10) rtts.push(await roundTrip(seq++));
  socket.close();
  return {
    roundTrips: rtts.length,
    messageBytes: rttMessage(0).length,
    p50Ms: percentile(rtts, 0.5),
    p99Ms: percentile(rtts, 0.99),
    meanMs: rtts.reduce((a, b) => a + b, 0) / rtts.length,
  };
}
