// A request whose answer never comes (the guest never answers) must not leave a waiter behind once
// nobody waits for it any more (the service's timeout, or the client went away).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Executor } from '../../src/engine/executor.js';
import { LiveHost } from '../../src/host/live-host.js';
import { DEFAULT_GUEST_LIMITS } from '../../src/sandbox/guest.js';

const SILENT = `export default { fetch() { return new Promise(() => {}); } };`;

describe('LiveHost waiters', () => {
  it('drops the waiters of abandoned requests, so none leak', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lockstep-waiters-'));
    const host = await LiveHost.boot({ dir }, { source: SILENT, programName: 'silent.js', limits: DEFAULT_GUEST_LIMITS });
    const { executor } = host;
    try {
      const abandons = Array.from({ length: 50 }, () => new AbortController());
      const answers = abandons.map((a, i) => host.handleRequest({ method: 'POST', path: '/', headers: [['idempotency-key', `k${i % 5}`]], body: new Uint8Array(0) }, a.signal));
      expect(host.pendingAnswers).toBe(5); // five keys, retries wait on the first request of each
      for (const a of abandons.slice(0, 25)) a.abort();
      expect(host.pendingAnswers).toBe(5); // the other half still waits on the same five requests
      for (const a of abandons.slice(25)) a.abort();
      expect(host.pendingAnswers).toBe(0);
      void answers;
    } finally {
      host.stop();
      executor.dispose();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
