// Handle ownership: QuickJS aborts when a runtime is freed with objects still referenced, so a
// guest that survives thousands of events and then disposes cleanly has leaked no handle.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Executor, type Output } from '../../src/engine/executor.js';
import { DEFAULT_GUEST_LIMITS, Guest } from '../../src/sandbox/guest.js';
import { REPO_DIR } from '../../scripts/record-fixtures.lib.js';

const world = { now: () => 1_700_000_000_000, randomBytes: (n: number) => new Uint8Array(n) };

describe('handle ownership', () => {
  it('the check works: a leaked handle makes dispose abort', async () => {
    const guest = await Guest.create({ source: 'export default {}', programName: 'leak.js', limits: DEFAULT_GUEST_LIMITS, world });
    (guest as unknown as { context: { newObject(): unknown } }).context.newObject(); // never disposed
    expect(() => guest.dispose()).toThrow(/list_empty\(&rt->gc_obj_list\)/);
  });

  it('2000 requests of every outcome (plus timers, reads, writes, faults) leave nothing behind', async () => {
    const completions: Array<Parameters<Executor['submit']>[0]> = [];
    const outputs: Output[] = [];
    const executor = await Executor.bootLive({
      source: readFileSync(join(REPO_DIR, 'test', 'fixtures', 'guests', 'hostile.js'), 'utf8').replace(
        "case '/ok':",
        "case '/timer': return new Promise((resolve) => setTimeout(() => resolve({ body: { at: Date.now(), r: Math.random(), u: crypto.randomUUID() } }), 5));\n      case '/write': await fs.writeFile('f.txt', request.body); return { body: await fs.readFile('f.txt').catch((e) => e.message) };\n      case '/ok':",
      ),
      programName: 'hostile.js',
      limits: { ...DEFAULT_GUEST_LIMITS, cpuPollsPerEventMax: 50 },
      hooks: {
        onEntry: () => {},
        onOutput: (output) => {
          outputs.push(output);
          if (output.effect.type === 'write') completions.push({ kind: 'write', opId: output.effect.opId, ok: true });
        },
        actions: {
          armTimer: (timerId) => completions.push({ kind: 'timer', timerId }),
          clearTimer: () => {},
          startRead: (opId) => completions.push({ kind: 'read', opId, ok: false, error: 'ENOENT: no such file' }),
        },
      },
    });
    const paths = ['/ok', '/throw', '/timer', '/write', '/escape', '/nowhere', '/ok', '/timer', '/write', '/ok'];
    for (let i = 0; i < 2000; i++) {
      executor.submit({ kind: 'request', method: 'POST', path: i % 500 === 0 ? '/loop' : paths[i % paths.length]!, headers: [['idempotency-key', `k${i}`]], body: new TextEncoder().encode(`body ${i}`) });
      while (completions.length > 0) executor.submit(completions.shift()!);
    }
    const answers = outputs.filter((o) => o.effect.type === 'respond');
    expect(answers).toHaveLength(2000);
    expect(answers.filter((o) => o.effect.type === 'respond' && typeof o.effect.body === 'string' && o.effect.body.includes('cpu_budget_exceeded'))).toHaveLength(4);
    expect(executor.eventsDelivered).toBeGreaterThan(3000) // requests, timer firings, write and read completions;
    expect(() => executor.dispose()).not.toThrow();
  });
});
