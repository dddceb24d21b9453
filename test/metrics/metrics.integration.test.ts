// GET /_lockstep/metrics on a real pair: every line parses as Prometheus text, names follow the
// conventions, counters grow under load, the output hold-time histogram has buckets, and after a
// SIGKILL of the primary the survivor reports the failover.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseExposition, parseValue, sampleValue, type MetricFamily } from '../../src/metrics/exposition-parser.js';
import { assertBuilt, increment, request, startPair, tempDir, waitUntil, type Pair } from '../replication/helpers.js';

async function scrape(url: string): Promise<Map<string, MetricFamily>> {
  const answer = await request(url, { path: '/_lockstep/metrics' });
  expect(answer.status).toBe(200);
  expect(answer.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseExposition(answer.body);
}

const value = (families: Map<string, MetricFamily>, name: string, labels?: Record<string, string>) => {
  const v = sampleValue(families, name, labels);
  if (v === undefined) throw new Error(`no sample ${name} ${JSON.stringify(labels ?? {})}`);
  return v;
};

function checkConventions(families: Map<string, MetricFamily>): void {
  const ours = [...families.values()].filter((f) => f.name.startsWith('lockstep_'));
  expect(ours.length).toBeGreaterThan(20);
  for (const family of families.values()) {
    expect(family.help, `${family.name} has HELP`).toBeTruthy();
    if (family.type === 'counter') expect(family.name, 'counters end in _total').toMatch(/_total$/);
    if (family.name.startsWith('lockstep_') && family.type !== 'counter') expect(family.name).not.toMatch(/_total$/);
    expect(family.name).not.toMatch(/_(ms|milliseconds|kb|mb)$/); // base units only
  }
  // The process's default metrics are there too.
  expect(families.has('process_cpu_seconds_total')).toBe(true);
  expect(families.has('nodejs_eventloop_lag_seconds')).toBe(true);
}

function checkHistogram(families: Map<string, MetricFamily>, name: string, effect: string): number {
  const family = families.get(name)!;
  expect(family.type).toBe('histogram');
  const buckets = family.samples.filter((s) => s.name === `${name}_bucket` && s.labels.effect === effect);
  expect(buckets.length).toBeGreaterThan(5);
  const bounds = buckets.map((b) => parseValue(b.labels.le)!);
  expect(bounds[bounds.length - 1]).toBe(Infinity);
  for (let i = 1; i < buckets.length; i++) {
    expect(bounds[i]).toBeGreaterThan(bounds[i - 1]);
    expect(buckets[i].value).toBeGreaterThanOrEqual(buckets[i - 1].value); // cumulative
  }
  const count = value(families, `${name}_count`, { effect });
  expect(buckets[buckets.length - 1].value).toBe(count);
  return count;
}

describe('GET /_lockstep/metrics', () => {
  let pair: Pair;
  beforeAll(async () => {
    assertBuilt();
    pair = await startPair(await tempDir('metrics'), { heartbeatMs: 100, failureTimeoutMs: 3000 }); // no false failover on a loaded machine
  });
  afterAll(async () => pair?.kill());

  it('parses on both nodes, grows under load, and reports the failover', async () => {
    const p0 = await scrape(pair.primary.url);
    const s0 = await scrape(pair.secondary.url);
    checkConventions(p0);
    checkConventions(s0);
    expect(value(p0, 'lockstep_role', { role: 'primary' })).toBe(1);
    expect(value(p0, 'lockstep_protection', { state: 'protected' })).toBe(1);
    expect(value(s0, 'lockstep_role', { role: 'secondary' })).toBe(1);
    expect(value(p0, 'lockstep_epoch')).toBe(0);

    const n = 60;
    for (let i = 0; i < n; i += 10) {
      const batch = await Promise.all(Array.from({ length: 10 }, (_, j) => increment(pair.primary.url, `m-${i + j}`)));
      for (const a of batch) expect(a.status).toBe(200);
    }
    await waitUntil(async () => value(await scrape(pair.secondary.url), 'lockstep_log_replayed_seq') >= value(await scrape(pair.primary.url), 'lockstep_log_last_seq'), 10_000, 'secondary caught up');
    const p1 = await scrape(pair.primary.url);
    const s1 = await scrape(pair.secondary.url);
    for (const name of ['lockstep_events_total', 'lockstep_entries_logged_total', 'lockstep_log_sent_bytes_total', 'lockstep_acks_received_total', 'lockstep_input_bytes_total']) {
      expect(value(p1, name), name).toBeGreaterThan(value(p0, name));
    }
    expect(value(p1, 'lockstep_events_total') - value(p0, 'lockstep_events_total')).toBeGreaterThanOrEqual(n);
    for (const name of ['lockstep_events_total', 'lockstep_log_received_bytes_total']) expect(value(s1, name), name).toBeGreaterThan(value(s0, name));
    // Every answer waited for the output rule and was observed; the counter (a writes, once per request) too.
    expect(checkHistogram(p1, 'lockstep_output_hold_seconds', 'respond')).toBeGreaterThanOrEqual(n);
    expect(checkHistogram(p1, 'lockstep_output_hold_seconds', 'write')).toBeGreaterThanOrEqual(n);
    expect(value(p1, 'lockstep_output_hold_seconds_sum', { effect: 'respond' })).toBeGreaterThan(0);
    expect(value(p1, 'lockstep_heartbeat_rtt_seconds')).toBeGreaterThan(0);
    checkConventions(p1);

    await pair.primary.proc.kill();
    await waitUntil(async () => {
      try {
        // The role flips a moment before go-live is complete (and timed in the status).
        const s = await scrape(pair.secondary.url);
        return value(s, 'lockstep_role', { role: 'primary' }) === 1 && value(s, 'lockstep_failovers_total') === 1;
      } catch {
        return false;
      }
    }, 10_000, 'secondary live');
    const s2 = await scrape(pair.secondary.url);
    expect(value(s2, 'lockstep_failovers_total')).toBe(1);
    expect(value(s2, 'lockstep_epoch')).toBe(1);
    expect(value(s2, 'lockstep_protection', { state: 'unprotected' })).toBe(1);
    // A counter never goes back, though the promoted node's status no longer carries its received bytes.
    expect(value(s2, 'lockstep_log_received_bytes_total')).toBeGreaterThanOrEqual(value(s1, 'lockstep_log_received_bytes_total'));
    checkConventions(s2);
  });
});
