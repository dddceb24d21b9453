// What happened to a node, with times: attach, catching up, protected, failure detected, claim
// won, live, fenced... Shown in status (for people, the demo and the dashboard). Bounded.

export const TIMELINE_EVENTS_MAX = 200;

export interface TimelineEvent {
  event: string;
  atMs: number;
  detail?: string;
}

export class Timeline {
  private readonly list: TimelineEvent[] = [];

  constructor(private readonly onEvent?: (event: TimelineEvent) => void) {}

  add(event: string, detail?: string): void {
    const entry: TimelineEvent = detail === undefined ? { event, atMs: Date.now() } : { event, atMs: Date.now(), detail };
    this.list.push(entry);
    if (this.list.length > TIMELINE_EVENTS_MAX) this.list.splice(0, this.list.length - TIMELINE_EVENTS_MAX);
    this.onEvent?.(entry);
  }

  /** The first time `event` happened, if it did. */
  first(event: string): number | undefined {
    return this.list.find((e) => e.event === event)?.atMs;
  }

  /** { event: first time it happened }: the compact view status has always given. */
  firstTimes(): Record<string, number> {
    const times: Record<string, number> = {};
    for (const e of this.list) times[e.event] ??= e.atMs;
    return times;
  }

  events(): TimelineEvent[] {
    return this.list.slice();
  }
}
