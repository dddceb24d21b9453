// What authenticating every logging-channel frame costs: µs per frame to seal (counter + HMAC-SHA256
// tag + one copy) and to open (tag check + counter check), next to msgpack encode + decode of the
// same message, for a heartbeat, an ack and log batches of several sizes. No sockets: CPU only.
// Usage: npx tsx scripts/channel-seal-cost.ts [--ms 300]
import { cpus } from 'node:os';
import { openSession, transcriptHash } from '../src/channel/frame-auth.js';
import { decodeMessage, encodeMessage, type ChannelMessage } from '../src/channel/messages.js';
import { ChannelSecret } from '../src/channel/secret.js';

const argv = process.argv.slice(2);
const budgetMs = Number(argv[argv.indexOf('--ms') + 1] || 300);

const secret = ChannelSecret.random();
const transcript = transcriptHash(Uint8Array.of(1), Uint8Array.of(2), Uint8Array.of(3));

/** Runs `fn` repeatedly for about budgetMs (after a warm-up) and returns µs per call. */
function usPer(fn: (i: number) => void): number {
  for (let i = 0; i < 200; i++) fn(i);
  let n = 0;
  const start = performance.now();
  while (performance.now() - start < budgetMs) {
    for (let k = 0; k < 50; k++) fn(n++);
  }
  return ((performance.now() - start) * 1000) / n;
}

const cases: Array<[string, ChannelMessage]> = [
  ['heartbeat', { type: 'heartbeat', sentMs: 12345.678, echoMs: 12300.5, heldMs: 3.25 }],
  ['ack', { type: 'ack', seq: 123_456, replayedSeq: 123_000, token: 0 }],
  ...[256, 4096, 65_536, 1 << 20].map((bytes): [string, ChannelMessage] => [
    `batch ${bytes >= 1024 ? `${bytes / 1024} KiB` : `${bytes} B`}`,
    { type: 'batch', firstSeq: 1, count: 64, payload: new Uint8Array(bytes).fill(7), token: 0 },
  ]),
];

console.log(`node ${process.version}, ${cpus()[0]?.model ?? 'unknown CPU'}; ~${budgetMs} ms per measurement`);
console.log('frame            bytes   encode+decode µs   seal µs   open µs   seal+open µs   seal+open MB/s');
for (const [name, message] of cases) {
  const encoded = encodeMessage(message);
  const codec = usPer(() => decodeMessage(encodeMessage(message), 'bench'));
  // One sealer and one opener per direction, as on a real link: frames open in the order sealed.
  const sealer = openSession(secret, transcript, 'primary', 'bench').sealer;
  const seal = usPer(() => sealer.seal(encoded));
  const laps = Math.max(2, Math.min(2000, Math.floor((64 << 20) / encoded.length))); // bounded memory
  const fresh = openSession(secret, transcript, 'primary', 'bench').sealer;
  const frames = Array.from({ length: laps }, () => fresh.seal(encoded));
  // Reopen the same frames with a fresh opener each lap (one HKDF per lap), so the counter always matches.
  let opener = openSession(secret, transcript, 'secondary', 'bench').opener;
  const open = usPer((i) => {
    const index = i % frames.length;
    if (index === 0) opener = openSession(secret, transcript, 'secondary', 'bench').opener;
    opener.open(frames[index]!);
  });
  const both = seal + open;
  const mbPerS = encoded.length / both; // bytes per µs = MB/s
  console.log(
    `${name.padEnd(15)} ${String(encoded.length).padStart(7)}   ${codec.toFixed(2).padStart(16)}   ${seal.toFixed(2).padStart(7)}   ${open.toFixed(2).padStart(7)}   ${both.toFixed(2).padStart(12)}   ${mbPerS.toFixed(0).padStart(14)}`,
  );
}
