// The timeline turns successive node views into what happened: protection, go-live steps with the
// node's own times, down and up again, re-protection; bounded in length.
import { describe, expect, it } from 'vitest';
import type { NodeView } from '../../src/dashboard/node-watcher.js';
import { TIMELINE_EVENTS_MAX, Timeline } from '../../src/dashboard/timeline.js';

const A = 'http://127.0.0.1:1';
const B = 'http://127.0.0.1:2';
const view = (url: string, fields: Partial<NodeView>): NodeView => ({ url, up: true, lastSeenMs: Date.now(), timeline: {}, ...fields });

describe('Timeline', () => {
  it('tells a failover and a re-protection in order', () => {
    const t = new Timeline();
    t.observe(view(A, { role: 'primary', epoch: 0, protection: 'unprotected' }));
    t.observe(view(B, { role: 'secondary', epoch: 0, peerConnected: true, lastSeq: 5000, replayedSeq: 10 }));
    t.observe(view(A, { role: 'primary', epoch: 0, protection: 'protected' }));
    t.observe(view(B, { role: 'secondary', epoch: 0, peerConnected: true, lastSeq: 5000, replayedSeq: 5000 }));
    t.observe({ url: A, up: false, lastSeenMs: Date.now() - 500, error: 'connect ECONNREFUSED', timeline: {}, role: 'primary' });
    const at = Date.now() - 300;
    t.observe(view(B, { role: 'primary', epoch: 1, protection: 'unprotected', promotedFromSecondary: true, timeline: { 'failure-detected': at, 'claim-won': at + 20, live: at + 25 } }));
    t.observe(view(B, { role: 'primary', epoch: 1, protection: 'protected', promotedFromSecondary: true, timeline: { 'failure-detected': at, 'claim-won': at + 20, live: at + 25 } }));
    const kinds = t.events.map((e) => `${e.url === A ? 'A' : 'B'} ${e.kind}`);
    expect([...kinds].sort()).toEqual(['A seen', 'B seen', 'B attach', 'B catching-up', 'A protected', 'B caught-up', 'B failure-detected', 'B claim-won', 'B live', 'A down', 'B unprotected', 'B re-protected'].sort());
    // Sorted by time: the go-live steps carry the node's own (earlier) times, the rest when seen.
    const order = (k: string) => kinds.indexOf(k);
    expect(order('B failure-detected')).toBeLessThan(order('B claim-won'));
    expect(order('B claim-won')).toBeLessThan(order('B live'));
    expect(order('B live')).toBeLessThan(order('B re-protected'));
    expect(order('B attach')).toBeLessThan(order('B caught-up'));
    for (let i = 1; i < t.events.length; i++) expect(t.events[i].atMs).toBeGreaterThanOrEqual(t.events[i - 1].atMs);
    expect(t.events.find((e) => e.kind === 'live')!.atMs).toBe(at + 25); // the node's own time
    // Seeing the same go-live steps again adds nothing.
    t.observe(view(B, { role: 'primary', epoch: 1, protection: 'protected', promotedFromSecondary: true, timeline: { 'failure-detected': at, 'claim-won': at + 20, live: at + 25 } }));
    expect(t.events.length).toBe(kinds.length);
  });

  it('tells a primary that outlived its secondary, a divergence and a fenced node', () => {
    const t = new Timeline();
    t.observe(view(A, { role: 'primary', epoch: 0, protection: 'protected' }));
    t.observe(view(A, { role: 'primary', epoch: 0, protection: 'arbitrating' }));
    t.observe(view(A, { role: 'primary', epoch: 1, protection: 'unprotected' }));
    t.observe(view(B, { role: 'diverged' }));
    t.observe(view(A, { role: 'fenced' }));
    expect(t.events.map((e) => e.kind)).toEqual(['seen', 'protected', 'arbitrating', 'claim-won', 'seen', 'divergence', 'fenced']);
  });

  it("shows a shadow's divergences with the entry and both answers, and a switchover", () => {
    const t = new Timeline();
    const base = Date.now() - 5_000;
    const line = 'entry #17 POST /increment: primary 200 {"count":5} | new program 200 {"count":5,"milestone":true}';
    t.observe(view(B, { role: 'shadow', history: [{ event: 'following', atMs: base }, { event: 'shadow-divergence', atMs: base + 1, detail: line }] }));
    t.observe(view(A, { role: 'primary', protection: 'protected', history: [{ event: 'switchover-begin', atMs: base + 2, detail: 'to shadow 127.0.0.1:9' }, { event: 'handed-over', atMs: base + 3 }] }));
    const divergence = t.events.find((e) => e.kind === 'shadow-divergence')!;
    expect(divergence.url).toBe(B);
    expect(divergence.text).toBe(`shadow: the new program differs from the primary (${line})`);
    expect(t.events.filter((e) => e.kind === 'switchover').map((e) => e.text)).toEqual([
      'switchover: no longer admitting requests, handing over to the shadow (to shadow 127.0.0.1:9)',
      'handed the primary role over',
    ]);
  });

  it("takes a node's own history at its word, with its times, once", () => {
    const t = new Timeline();
    const base = Date.now() - 10_000;
    const primary = [{ event: 'attach', atMs: base + 1, detail: 'secondary 127.0.0.1:5' }, { event: 'catching-up', atMs: base + 2 }, { event: 'protected', atMs: base + 3 }];
    t.observe(view(A, { role: 'primary', protection: 'protected', history: primary }));
    t.observe(view(A, { role: 'primary', protection: 'protected', history: primary })); // nothing new
    const promoted = [
      { event: 'following', atMs: base + 2 },
      { event: 'failure-detected', atMs: base + 5, detail: 'the logging connection closed' },
      { event: 'claim-won', atMs: base + 6, detail: 'epoch 1' },
      { event: 'live', atMs: base + 6, detail: 'epoch 1' },
    ];
    t.observe(view(B, { role: 'primary', promotedFromSecondary: true, history: promoted }));
    t.observe(view(B, { role: 'primary', promotedFromSecondary: true, history: [...promoted, { event: 'attach', atMs: base + 8 }, { event: 'protected', atMs: base + 9 }, { event: 'diverged', atMs: base + 9 }] }));
    const told = t.events.filter((e) => e.kind !== 'seen').map((e) => `${e.url === A ? 'A' : 'B'} ${e.kind} ${e.atMs - base}`);
    expect(told).toEqual(['A attach 1', 'A catching-up 2', 'B following 2', 'A protected 3', 'B failure-detected 5', 'B claim-won 6', 'B live 6', 'B attach 8', 'B re-protected 9', 'B divergence 9']);
    expect(t.events.find((e) => e.kind === 'failure-detected')!.text).toMatch(/the logging connection closed/);
  });

  it(`keeps at most ${TIMELINE_EVENTS_MAX} events, dropping the oldest`, () => {
    const t = new Timeline();
    for (let i = 0; i < TIMELINE_EVENTS_MAX + 50; i++) t.note(A, 'killed', `kill ${i}`);
    expect(t.events).toHaveLength(TIMELINE_EVENTS_MAX);
    expect(t.events[t.events.length - 1].text).toBe(`kill ${TIMELINE_EVENTS_MAX + 49}`);
  });
});
