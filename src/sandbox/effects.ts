// What a guest asks of the world during one event, as the prelude reports it to the host.
// Responses, console lines and disk writes are outputs (subject to the output rule); timers and
// reads are requests the host carries out (live) or expects to see completed in the log (replay).

export type Effect =
  | { type: 'respond'; requestId: number; status: number; headers: Record<string, string>; body: string }
  | { type: 'console'; level: 'log' | 'info' | 'debug' | 'warn' | 'error'; text: string }
  | { type: 'timer'; timerId: number; dueMs: number; intervalMs: number }
  | { type: 'clear'; timerId: number }
  | { type: 'read'; opId: number; path: string }
  | { type: 'write'; opId: number; path: string; data: string };

/** Outputs are what leaves the system; only they are digested and gated. */
export type OutputEffect = Extract<Effect, { type: 'respond' | 'console' | 'write' }>;

export function isOutput(effect: Effect): effect is OutputEffect {
  return effect.type === 'respond' || effect.type === 'console' || effect.type === 'write';
}

/** Decodes the prelude's compact tuples. The prelude is ours, so a bad shape is a broken invariant. */
export function decodeEffects(json: string): Effect[] {
  const tuples = JSON.parse(json) as unknown[][];
  return tuples.map((t): Effect => {
    switch (t[0]) {
      case 'respond':
        return { type: 'respond', requestId: t[1] as number, status: t[2] as number, headers: t[3] as Record<string, string>, body: t[4] as string };
      case 'console':
        return { type: 'console', level: t[1] as 'log', text: t[2] as string };
      case 'timer':
        return { type: 'timer', timerId: t[1] as number, dueMs: t[2] as number, intervalMs: t[3] as number };
      case 'clear':
        return { type: 'clear', timerId: t[1] as number };
      case 'read':
        return { type: 'read', opId: t[1] as number, path: t[2] as string };
      case 'write':
        return { type: 'write', opId: t[1] as number, path: t[2] as string, data: t[3] as string };
      default:
        throw new Error(`invariant broken: unknown effect from the prelude: ${JSON.stringify(t)}`);
    }
  });
}
