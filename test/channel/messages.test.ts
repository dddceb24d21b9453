import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
// Wire format: every message survives a round trip, and any garbage decodes to a typed error.

import { randomBytes } from 'node:crypto';
import { Packr } from 'msgpackr';
import { describe, expect, it, vi } from 'vitest';
import { ChannelProtocolError } from '../../src/channel/errors.js';
import { FailureDetector } from '../../src/channel/failure-detector.js';
import { decodeMessage, encodeMessage, type ChannelMessage } from '../../src/channel/messages.js';
import type { LogHeader } from '../../src/log/entries.js';

const header: LogHeader = {
  formatVersion: 1,
  runtime: 'quickjs-test',
  programHash: 'ab'.repeat(32),
  programName: 'guest.js',
  limits: { memoryBytesMax: 1 << 26, stackBytesMax: 1 << 20, cpuPollsPerEventMax: 1000 },
  createdAtMs: 1_700_000_000_000,
};
/** Buffer and Uint8Array compare unequal in vitest: compare the bytes. */
const plain = (v: unknown): unknown =>
  v instanceof Uint8Array ? [...v] : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)])) : v;
const b = (n: number, fill: number) => new Uint8Array(n).fill(fill);

const samples: ChannelMessage[] = [
  { type: 'hello', protocolVersion: 1, serverNonce: b(32, 1) },
  { type: 'auth', clientNonce: b(32, 2), proof: b(32, 3), header, haveSeq: 7, replayedSeq: 5, token: 0, replica: 0, node: '' },
  { type: 'auth', clientNonce: b(32, 2), proof: b(32, 3), header, haveSeq: 7, replayedSeq: 5, token: 41, replica: 2, node: '0123456789abcdef' },
  { type: 'welcome', proof: b(32, 4), header, startSeq: 8, epoch: 2, lastSeq: 9, checkpointBytes: 0, forks: [], token: 0, files: false },
  { type: 'welcome', proof: b(32, 4), header, startSeq: 8, epoch: 2, lastSeq: 9, checkpointBytes: 123456, forks: [{ epoch: 1, forkSeq: 5 }, { epoch: 2, forkSeq: 9 }], token: 0, files: false },
  { type: 'refuse', code: 'LOCKSTEP_CHANNEL_BUSY', message: 'busy' },
  { type: 'batch', firstSeq: 8, count: 3, payload: b(100, 5), token: 0 },
  { type: 'ack', seq: 10, replayedSeq: 7, token: 0 },
  { type: 'checkpoint', offset: 262144, chunk: b(100, 9) },
  { type: 'files', offset: 0, total: 100, digest: b(32, 6), chunk: b(100, 7) },
  { type: 'welcome', proof: b(32, 4), header, startSeq: 8, epoch: 2, lastSeq: 9, checkpointBytes: 0, forks: [], token: 57, files: true },
  { type: 'heartbeat', sentMs: 12.5, echoMs: null, heldMs: 0 },
  { type: 'heartbeat', sentMs: 12.5, echoMs: 3.25, heldMs: 1.5 },
  { type: 'bye', reason: 'planned stop' },
  { type: 'answers', answers: [{ seq: 3, status: 200, headers: { 'content-type': 'application/json' }, body: b(5, 7) }, { seq: 9, status: 404, headers: {}, body: b(0, 0) }] },
  { type: 'answers', answers: [] },
  { type: 'switchover', phase: 'request', seq: 40, reason: '' },
  { type: 'switchover', phase: 'abort', seq: 0, reason: 'the shadow diverged' },
];

describe('channel messages', () => {
  it.each(samples.map((m) => [m.type, m] as const))('round-trips %s', (_type, message) => {
    const decoded = decodeMessage(encodeMessage(message), 'peer');
    expect(plain(decoded)).toEqual(plain(message));
  });

  it('rejects wrong shapes with a message naming the field', () => {
    const packr = new Packr({ useRecords: false });
    const bad = (value: unknown) => () => decodeMessage(packr.pack(value), '10.0.0.1:5');
    expect(bad([5, 0, 1, b(1, 0)])).toThrow(/batch: firstSeq is not an integer >= 1/);
    expect(bad([6, -1])).toThrow(/ack: seq/);
    expect(bad([6, 1, 2, 3, 4])).toThrow(/extra fields/);
    expect(bad([11, 0, 4, b(31, 0), b(4, 0)])).toThrow(/files: digest is 31 bytes/);
    expect(bad([2, b(32, 0), b(32, 0), header, 0, 0, 0, 3, 'n'])).toThrow(/replica is not 0, 1 or 2/);
    expect(bad([10, -5, b(4, 0)])).toThrow(/checkpoint: offset/);
    expect(bad([10, 0, 'not bytes'])).toThrow(/checkpoint: chunk is not binary/);
    expect(bad([1, 1, b(31, 0)])).toThrow(/serverNonce is 31 bytes/);
    expect(bad([2, b(32, 0), b(32, 0), { ...header, limits: null }, 0])).toThrow(/header is not a log header/);
    expect(bad([99])).toThrow(/unknown message type/);
    expect(bad([12, [[0, 200, [], b(1, 0)]]])).toThrow(/answers: answer 0 is not \[seq, status, headers, body\]/);
    expect(bad([12, [[1, 200, ['only-a-name'], b(1, 0)]]])).toThrow(/answer 0/);
    expect(bad([13, 'commit', 1, ''])).toThrow(/switchover: phase commit is not one of/);
    expect(bad({ a: 1 })).toThrow(ChannelProtocolError);
    expect(bad('text')).toThrow(/10\.0\.0\.1:5/);
  });

  it('turns random bytes into ChannelProtocolError only', () => {
    for (let i = 0; i < 5000; i++) {
      const bytes = randomBytes(1 + (i % 64));
      if (i % 2) bytes[0] = 0x90 + (i % 6); // a fixarray header: gets past the first check more often
      try {
        decodeMessage(bytes, 'peer');
      } catch (err) {
        expect(err).toBeInstanceOf(ChannelProtocolError);
      }
    }
  });
});

describe('FailureDetector', () => {
  it('fires once after timeoutMs without touch, not while touched, never after stop', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setImmediate', 'clearImmediate', 'Date'] });
    try {
      const onSilent = vi.fn();
      const detector = new FailureDetector(100, onSilent, () => Date.now());
      for (let i = 0; i < 10; i++) {
        vi.advanceTimersByTime(60);
        detector.touch();
      }
      expect(onSilent).not.toHaveBeenCalled();
      vi.advanceTimersByTime(99);
      expect(onSilent).not.toHaveBeenCalled();
      vi.advanceTimersByTime(2); // the verdict comes one turn after the timeout (see the stalled-loop test)
      expect(onSilent).toHaveBeenCalledTimes(1);
      detector.touch();
      vi.advanceTimersByTime(500);
      expect(onSilent).toHaveBeenCalledTimes(1);

      const quiet = vi.fn();
      new FailureDetector(100, quiet, () => Date.now()).stop();
      vi.advanceTimersByTime(500);
      expect(quiet).not.toHaveBeenCalled();
    } finally {
      vi.useRealTimers();
    }
  });

  it('reads frames that waited behind its own stalled event loop before calling the peer silent', async () => {
    // A real socket: the peer's frame sits in the kernel while our loop is stalled past the timeout.
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
    const client = connect((server.address() as AddressInfo).port, '127.0.0.1');
    await new Promise((resolve) => client.once('connect', resolve));
    const socket = await accepted;
    const onSilent = vi.fn();
    const detector = new FailureDetector(50, onSilent);
    socket.on('data', () => detector.touch());
    client.write('frame');
    const until = performance.now() + 120;
    while (performance.now() < until);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(onSilent).not.toHaveBeenCalled();
    detector.stop();
    client.destroy();
    socket.destroy();
    server.close();
  });
});
