// The lean guest event (issue 22): a request whose synchronous part leaves no promise job and nothing
// for the end of event takes one call into the guest (deliver hands back its effects); anything else
// falls back to draining jobs, endEvent and the final takeEffects, with the same effects in the same
// order. Request fields go to the guest as strings unless a string handle cannot carry them exactly.
import { describe, expect, it } from 'vitest';
import { DEFAULT_GUEST_LIMITS, Guest, type GuestEvent } from '../../src/sandbox/guest.js';
import { recordRun, replayRun } from './in-process.js';

const world = { now: () => 1_700_000_000_000, randomBytes: (n: number) => new Uint8Array(n) };

/** A guest whose calls into QuickJS (deliver, endEvent, takeEffects) are counted. */
async function countedGuest(source: string): Promise<{ guest: Guest; calls: () => number }> {
  const guest = await Guest.create({ source, programName: 'lean.js', limits: DEFAULT_GUEST_LIMITS, world });
  guest.deliver({ kind: 'start' });
  const context = (guest as unknown as { context: { callFunction: (...args: unknown[]) => unknown } }).context;
  const original = context.callFunction.bind(context);
  let calls = 0;
  context.callFunction = (...args: unknown[]) => {
    calls++;
    return original(...args);
  };
  return { guest, calls: () => calls };
}

function request(id: number, path: string, body: Uint8Array | string = new Uint8Array(0), headers: Array<[string, string]> = [['host', 'localhost:8080']]): GuestEvent {
  return { kind: 'request', id, method: 'POST', path, headers, body };
}

describe('a lean guest event', () => {
  it('takes one call into the guest for a synchronous answer, and falls back to three when promise jobs run', async () => {
    const { guest, calls } = await countedGuest(`export default { fetch(request) { if (request.path === '/async') return Promise.resolve('later'); return 'now'; } };`);
    try {
      const now = guest.deliver(request(2, '/'));
      expect(calls()).toBe(1);
      expect(now.effects).toEqual([{ type: 'respond', requestId: 2, status: 200, headers: {}, body: 'now' }]);
      const later = guest.deliver(request(3, '/async'));
      expect(calls()).toBe(1 + 3);
      expect(later.effects).toEqual([{ type: 'respond', requestId: 3, status: 200, headers: {}, body: 'later' }]);
    } finally {
      guest.dispose();
    }
  });

  it('still ends the event when env.storage changed: the store is written and the answer waits for it', async () => {
    const source = `export default { async fetch(request, env) { await env.storage.put('k', request.path); return 'put ' + request.path; } };`;
    const run = await recordRun(source);
    try {
      expect(run.ask({ path: '/one' }).body).toBe('put /one');
      expect(run.ask({ path: '/two' }).body).toBe('put /two');
      expect(run.files.get('.lockstep/storage.json')).toContain('/two');
      const kinds = run.entries.map(([, entry]) => entry.kind);
      expect(kinds.filter((kind) => kind === 'write').length).toBeGreaterThanOrEqual(2);
      expect(await replayRun(source, run)).toBe(run.executor.outputsDigest());
    } finally {
      run.dispose();
    }
  });

  it('keeps the console budget per event when the final takeEffects is skipped', async () => {
    const line = 'x'.repeat(8000);
    // 100 lines of 8000 characters = 800,000 per event, under the 1,048,576 budget; two events' worth would not be.
    const source = `export default { fetch(request) { const n = Number(request.path.slice(1)); for (let i = 0; i < n; i++) console.log(${JSON.stringify(line)}); return 'ok'; } };`;
    const { guest, calls } = await countedGuest(source);
    try {
      for (let id = 2; id < 5; id++) {
        const { effects } = guest.deliver(request(id, '/100'));
        expect(effects.filter((e) => e.type === 'console')).toHaveLength(100);
      }
      expect(calls()).toBe(3);
      // Within one event the budget still applies, and the note on dropped lines comes last.
      const { effects } = guest.deliver(request(5, '/200'));
      const consoleLines = effects.filter((e) => e.type === 'console');
      expect(consoleLines).toHaveLength(131 + 1);
      expect(effects.at(-1)).toMatchObject({ type: 'console', level: 'error', text: expect.stringMatching(/69 console lines of this event were dropped/) });
    } finally {
      guest.dispose();
    }
  });

  it('hands the guest a path or body with NUL or a lone surrogate exactly (as JSON), and UTF-8 and binary bodies as before', async () => {
    const source = `export default { async fetch(request) { const bytes = new Uint8Array(await request.arrayBuffer()); return { body: { path: request.path, text: request.body, bytes: Array.from(bytes), host: request.headers.host, url: request.url } }; } };`;
    const guest = await Guest.create({ source, programName: 'lean.js', limits: DEFAULT_GUEST_LIMITS, world });
    try {
      guest.deliver({ kind: 'start' });
      const answer = (event: GuestEvent) => {
        const effect = guest.deliver(event).effects[0]!;
        if (effect.type !== 'respond' || typeof effect.body !== 'string') throw new Error(`no answer: ${JSON.stringify(effect)}`);
        return JSON.parse(effect.body);
      };
      expect(answer(request(2, '/a\0b', 'c\0d'))).toMatchObject({ path: '/a\0b', text: 'c\0d', bytes: [99, 0, 100], host: 'localhost:8080' });
      expect(answer(request(3, '/\ud800', '\udc00'))).toMatchObject({ path: '/\ud800', text: '\udc00' });
      expect(answer(request(4, '/é?q=1', new TextEncoder().encode('héllo')))).toMatchObject({ path: '/é?q=1', text: 'héllo', bytes: [104, 195, 169, 108, 108, 111], url: 'http://localhost:8080/%C3%A9?q=1' });
      expect(answer(request(5, '/bin', new Uint8Array([0xff, 0x00, 0x41])))).toMatchObject({ bytes: [255, 0, 65], text: '\ufffd\u0000A' });
    } finally {
      guest.dispose();
    }
  });

  it("sends a Response's headers as before: names in insertion order, repeats joined, each Set-Cookie apart", async () => {
    const source = `export default { fetch() { const h = new Headers({ 'x-b': '1' }); h.append('x-a', '2'); h.append('x-b', '3'); h.append('set-cookie', 'a=1'); h.append('set-cookie', 'b=2'); return new Response('ok', { headers: h }); } };`;
    const run = await recordRun(source);
    try {
      const answer = run.ask({ path: '/' });
      expect(answer.headers).toEqual({ 'x-b': '1, 3', 'x-a': '2', 'set-cookie': 'a=1, b=2', 'content-type': 'text/plain;charset=UTF-8' });
      expect(Object.keys(answer.headers)).toEqual(['x-b', 'x-a', 'set-cookie', 'content-type']);
    } finally {
      run.dispose();
    }
  });

  it('builds the headers only when asked, from the same pairs (legacy fields, repeats joined, the last Host wins for the URL)', async () => {
    const source = `export default { fetch(request) { if (request.path === '/none') return 'none'; return { body: { get: request.headers.get('x-a'), legacy: request.headers['x-a'], url: request.url, entries: [...request.headers] } }; } };`;
    const run = await recordRun(source);
    try {
      expect(run.ask({ path: '/none', headers: [['x-a', '1']] }).body).toBe('none');
      const headers: Array<[string, string]> = [['host', 'one.example'], ['x-a', '1'], ['x-a', '2'], ['host', 'two.example:8080']];
      expect(run.ask({ path: '/h?x=1', headers }).json).toEqual({
        get: '1, 2',
        legacy: '1, 2',
        url: 'http://two.example:8080/h?x=1',
        entries: [['host', 'one.example, two.example:8080'], ['x-a', '1, 2']],
      });
      // The recording replays to the same outputs.
      expect(await replayRun(source, run)).toBe(run.executor.outputsDigest());
    } finally {
      run.dispose();
    }
  });
});
