// The primary's attach rules, in process with a real channel: a secondary is refused (retryably)
// while the primary arbitrates, and for good when its log cannot be a prefix of the primary's.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ChannelClient } from '../../src/channel/channel-client.js';
import { ChannelSecret } from '../../src/channel/secret.js';
import { Executor } from '../../src/engine/executor.js';
import { LiveHost } from '../../src/host/live-host.js';
import { checkHeaderCompatible } from '../../src/log/codec.js';
import { LOG_FORMAT_VERSION, type LogHeader } from '../../src/log/entries.js';
import { RUNTIME_ID } from '../../src/engine/program.js';
import { claimEpoch, FileArbiter } from '../../src/replication/arbitration.js';
import { PrimaryRole } from '../../src/replication/primary-role.js';
import { RetainedLog } from '../../src/replication/retained-log.js';
import { Timeline } from '../../src/replication/timeline.js';
import { Lineage } from '../../src/replication/lineage.js';
import { DEFAULT_GUEST_LIMITS } from '../../src/sandbox/guest.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function waitFor(what: string, condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function startRole(frameBytesMax?: number) {
  const dir = await mkdtemp(join(tmpdir(), 'lockstep-role-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const source = await readFile(new URL('../fixtures/guests/ledger.js', import.meta.url), 'utf8');
  const header: LogHeader = { formatVersion: LOG_FORMAT_VERSION, runtime: RUNTIME_ID, programHash: 'cd'.repeat(32), programName: 'ledger.js', limits: DEFAULT_GUEST_LIMITS, createdAtMs: Date.now() };
  const secret = ChannelSecret.random();
  const retained = new RetainedLog();
  const lines: string[] = [];
  const host = await LiveHost.boot({ dir, onEntry: (seq, entry) => retained.append(seq, entry) }, { source, programName: 'ledger.js', limits: DEFAULT_GUEST_LIMITS });
  const { executor } = host;
  const role = new PrimaryRole(
    { arbiter: new FileArbiter(dir), listen: { host: '127.0.0.1', port: 0 }, secret, header, epoch: 0, lineage: Lineage.startingAt(0), heartbeatIntervalMs: 50, failureTimeoutMs: 1000, outputGate: true, timeline: new Timeline(), onFenced: () => undefined, log: (line) => lines.push(line), frameBytesMax },
    executor, host, retained,
  );
  host.setOnEntry((seq, entry) => role.onEntry(seq, entry));
  await claimEpoch(dir, 0, 'test primary'); // as a starting node does (src/replication/ownership.ts)
  const port = await role.listen();
  cleanups.push(() => executor.dispose());
  cleanups.push(() => role.server.close());
  return { role, port, secret, header, retained, host, lines };
}

function client(port: number, secret: ChannelSecret, header: LogHeader, haveSeq: number) {
  const log = { refused: [] as string[], connected: 0, errors: [] as string[] };
  const c = new ChannelClient({
    url: `ws://127.0.0.1:${port}`, secret, header, compatible: checkHeaderCompatible, haveSeq: () => haveSeq,
    heartbeatIntervalMs: 50, failureTimeoutMs: 1000, retryIntervalMs: 20, retryIntervalMaxMs: 50,
    onBatch: () => undefined,
    onConnected: () => log.connected++,
    onRefused: (code) => log.refused.push(code),
    onError: (error) => log.errors.push(error.code),
  });
  cleanups.push(() => c.stop());
  c.start();
  return { c, log };
}

describe('PrimaryRole attach rules', () => {
  it('refuses a secondary while arbitrating (retryable), and takes it once alone again', async () => {
    const { role, port, secret, header } = await startRole();
    (role as unknown as { setProtection(p: string): void }).setProtection('arbitrating');
    const { log } = client(port, secret, header, 0);
    await waitFor('two not-ready refusals', () => log.refused.filter((c) => c === 'LOCKSTEP_CHANNEL_NOT_READY').length >= 2);
    expect(log.connected).toBe(0);
    expect(role.protection).toBe('arbitrating');
    (role as unknown as { goOnAlone(): void }).goOnAlone();
    await waitFor('attached and protected', () => log.connected === 1 && role.protection === 'protected');
  });

  it('refuses for good a secondary that holds more entries than its log', async () => {
    const { role, port, secret, header, retained } = await startRole();
    const { c, log } = client(port, secret, header, retained.lastSeq + 5);
    await waitFor('a final refusal', () => log.refused.includes('LOCKSTEP_CHANNEL_HISTORY'));
    await waitFor('the client stopped', () => c.state === 'stopped');
    expect(role.protection).toBe('unprotected');
  });

  it('handles a batch too big for a frame: the secondary is dropped with the reason, nothing is thrown', async () => {
    // Entries are bounded at their source (a guest read, a request body), so this should never
    // happen; if it does, the channel's path must not kill the process (it once threw from a microtask).
    const { role, port, secret, header, host, lines } = await startRole(64 * 1024);
    const { log } = client(port, secret, header, 0);
    await waitFor('protected', () => log.connected === 1 && role.protection === 'protected');
    void host.handleRequest({ method: 'POST', path: '/add', headers: [], body: new Uint8Array(200 * 1024) }).catch(() => undefined);
    await waitFor('the secondary dropped', () => lines.some((line) => /LOCKSTEP_CHANNEL_FRAME_TOO_LARGE/.test(line)));
    expect(lines.join('\n')).toMatch(/entry #\d+ .*cannot be shipped/);
  });
});
