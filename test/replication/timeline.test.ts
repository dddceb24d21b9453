// A node's timeline in process: events with times, the first time of each, a listener, and a bound.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Timeline, TIMELINE_EVENTS_MAX, type TimelineEvent } from '../../src/replication/timeline.js';

afterEach(() => {
  vi.restoreAllMocks();
});

describe('Timeline', () => {
  it('records events with their time and detail, tells the first time of each, and calls the listener', () => {
    const clock = vi.spyOn(Date, 'now').mockReturnValue(100);
    const seen: TimelineEvent[] = [];
    const timeline = new Timeline((e) => seen.push(e));
    timeline.add('attach');
    clock.mockReturnValue(150);
    timeline.add('protected', 'holds #1..#40');
    clock.mockReturnValue(200);
    timeline.add('attach');
    expect(timeline.events()).toEqual([
      { event: 'attach', atMs: 100 },
      { event: 'protected', atMs: 150, detail: 'holds #1..#40' },
      { event: 'attach', atMs: 200 },
    ]);
    expect(seen).toEqual(timeline.events());
    expect(timeline.first('attach')).toBe(100);
    expect(timeline.first('live')).toBeUndefined();
    expect(timeline.firstTimes()).toEqual({ attach: 100, protected: 150 });
  });

  it('hands out a copy: a caller cannot change the timeline', () => {
    const timeline = new Timeline();
    timeline.add('attach');
    timeline.events().push({ event: 'forged', atMs: 0 });
    expect(timeline.events()).toHaveLength(1);
  });

  it(`keeps at most TIMELINE_EVENTS_MAX (${TIMELINE_EVENTS_MAX}) events, dropping the oldest`, () => {
    const timeline = new Timeline();
    const extra = 25;
    for (let i = 0; i < TIMELINE_EVENTS_MAX + extra; i++) timeline.add(`e${i}`);
    const events = timeline.events();
    expect(events).toHaveLength(TIMELINE_EVENTS_MAX);
    expect(events[0].event).toBe(`e${extra}`);
    expect(events.at(-1)?.event).toBe(`e${TIMELINE_EVENTS_MAX + extra - 1}`);
    expect(timeline.first('e0')).toBeUndefined();
  });
});
