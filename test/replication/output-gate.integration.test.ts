// The output rule, shown by its absence. The primary ships its log 2 s late (--channel-delay-ms,
// a slow logging link) and the secondary is SIGSTOPped (it can neither ack nor replay); then the
// primary is SIGKILLed (within the delay, so the last entries never left its host) and the
// secondary SIGCONTed: it goes live with what it received.
//  - --no-output-gate: answers left before the secondary had their entries: the survivor's count is
//    below what clients were told. Acknowledged work lost.
//  - gate on (default): the same requests got no answer while the secondary could not ack; after
//    the failover nothing any client saw is lost, and the unanswered keys are answered once.
// The failure timeout is 5 s so the stopped secondary is not declared failed during the scenario.
import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, count, increment, startPair, status, tempDir, waitUntil, type HttpAnswer, type Pair } from './helpers.js';

const pairs: Pair[] = [];
const dirs: string[] = [];
beforeAll(() => assertBuilt());
afterAll(async () => {
  await Promise.all(pairs.map((p) => p.kill()));
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

const DELAY_MS = 2000;

async function scenario(gate: boolean) {
  const dir = await tempDir(gate ? 'gate-on' : 'gate-off');
  dirs.push(dir);
  const pair = await startPair(dir, {
    heartbeatMs: 50,
    failureTimeoutMs: 5000,
    primaryExtra: [...(gate ? [] : ['--no-output-gate']), '--channel-delay-ms', String(DELAY_MS)],
  });
  pairs.push(pair);
  const seen = new Map<string, HttpAnswer>();
  // Three increments the secondary fully receives.
  await Promise.all([0, 1, 2].map(async (i) => seen.set(`warm-${i}`, await increment(pair.primary.url, `warm-${i}`, 10_000))));
  const p = await status(pair.primary.url);
  await waitUntil(async () => (await status(pair.secondary.url))?.receivedSeq === p?.lastSeq, 10_000, 'secondary received the warm-up');

  pair.secondary.proc.signal('SIGSTOP');
  const during = await Promise.allSettled([0, 1, 2, 3, 4].map((i) => increment(pair.primary.url, `during-${i}`, 1200)));
  during.forEach((r, i) => r.status === 'fulfilled' && seen.set(`during-${i}`, r.value));
  pair.primary.proc.signal('SIGKILL');
  await pair.primary.proc.exited;
  pair.secondary.proc.signal('SIGCONT');
  await waitUntil(async () => (await status(pair.secondary.url))?.role === 'primary', 10_000, 'secondary went live');
  // The scenario's premise, as an outcome rather than a stopwatch: the primary died within the delay,
  // so the survivor received nothing logged after the warm-up.
  const received = Number((await pair.secondary.proc.waitFor(/replaying all (\d+) entries received/))[1]);
  expect(received, 'the slow link delivered entries of the requests made during the stop').toBe(p?.lastSeq);
  const survivorCount = await count(pair.secondary.url);
  const told = [...seen.values()].filter((a) => a.status === 200).map((a) => (JSON.parse(a.body) as { count: number }).count);
  return { pair, seen, during, survivorCount, highestTold: Math.max(...told) };
}

describe.concurrent('output gate under SIGSTOP of the secondary + SIGKILL of the primary', () => {
  it('--no-output-gate loses increments the client was told about', async () => {
    const { pair, seen, during, survivorCount, highestTold } = await scenario(false);
    // Answers left the primary although the secondary could not acknowledge anything.
    expect(during.every((r) => r.status === 'fulfilled' && r.value.status === 200)).toBe(true);
    expect(highestTold).toBe(8);
    expect(survivorCount).toBe(3);
    expect(survivorCount).toBeLessThan(highestTold);
    // The same key now gets a different answer than the one the client was told: 8 told, then 4.
    const again = await increment(pair.secondary.url, 'during-4');
    expect(again.status).toBe(200);
    expect(again.body).not.toBe(seen.get('during-4')!.body);
    console.log(`no gate: clients were told up to count ${highestTold}, the survivor went live with ${survivorCount}`);
  });

  it('with the gate, nothing leaves while unacknowledged, and nothing told is lost', async () => {
    const { pair, seen, during, survivorCount, highestTold } = await scenario(true);
    expect(during.every((r) => r.status === 'rejected')).toBe(true); // no answer while the secondary cannot ack
    expect(highestTold).toBe(3);
    expect(survivorCount).toBeGreaterThanOrEqual(highestTold);
    // Every answer the client saw is kept (same answer for the same key) ...
    for (const [key, answer] of seen) expect((await increment(pair.secondary.url, key)).body).toBe(answer.body);
    // ... and the unanswered keys are answered now, each exactly once.
    const retried = await Promise.all([0, 1, 2, 3, 4].map((i) => increment(pair.secondary.url, `during-${i}`)));
    const counts = retried.map((a) => (JSON.parse(a.body) as { count: number }).count).sort((a, b) => a - b);
    expect(counts).toEqual([4, 5, 6, 7, 8]);
    expect(await count(pair.secondary.url)).toBe(8);
    console.log(`gate on: clients were told up to ${highestTold} before the kill, the survivor went live with ${survivorCount}`);
  });
});
