// A guest that replaces the built-ins the prelude relies on (Array.prototype.push, JSON.stringify,
// toJSON, Map methods, Function.prototype.call, Promise.prototype.then, Symbol.species, setters on
// prototypes, String.prototype[Symbol.split] ...) cannot forge effects, skip the output rule's
// bookkeeping or crash the host: the prelude captured its intrinsics at boot and keeps effects where
// the guest cannot reach them. Each back door is tried, and each run replays to the same digest.
import { afterEach, describe, expect, it } from 'vitest';
import { decodeEffects } from '../../src/sandbox/effects.js';
import { recordRun, replayRun, type Run } from './in-process.js';

const runs: Run[] = [];
afterEach(() => {
  for (const run of runs.splice(0)) run.dispose();
});

/** A guest that installs `tamper` at load, then serves: /ok, /write (a file), /timer, /read, /log. */
function guest(tamper: string): string {
  return `
${tamper}
let n = 0;
export default {
  async fetch(request) {
    n += 1;
    if (request.path === '/write') { await fs.writeFile('notes/a.txt', 'hello ' + n); return { body: 'written' }; }
    if (request.path === '/read') return { body: await fs.readFile('notes/a.txt') };
    if (request.path === '/escape') return { body: await fs.readFile('notes/../../../etc/passwd') };
    if (request.path === '/timer') return new Promise((resolve) => setTimeout(() => resolve({ status: 201, headers: { 'x-n': String(n) }, body: { fired: n } }), 10));
    if (request.path === '/log') { console.log('line', n); return 'logged'; }
    return { headers: { 'x-n': String(n) }, body: { ok: true, n } };
  },
};`;
}

async function run(tamper: string): Promise<Run> {
  const r = await recordRun(guest(tamper));
  runs.push(r);
  return r;
}

/** The ordinary behaviour, whatever was tampered with. */
async function expectOrdinary(r: Run, tamper: string): Promise<void> {
  expect(r.ask({ path: '/ok' })).toMatchObject({ status: 200, headers: { 'x-n': '1', 'content-type': 'application/json' }, json: { ok: true, n: 1 } });
  expect(r.ask({ path: '/write' })).toMatchObject({ status: 200, body: 'written' });
  expect([...r.files.entries()]).toEqual([['notes/a.txt', 'hello 2']]);
  expect(r.ask({ path: '/read' })).toMatchObject({ status: 200, body: 'hello 2' });
  expect(r.ask({ path: '/escape' })).toMatchObject({ status: 500, json: { error: 'guest_threw', message: expect.stringContaining('EACCES: path escapes the data directory') } });
  expect(r.ask({ path: '/timer' })).toMatchObject({ status: 201, headers: { 'x-n': '5' }, json: { fired: 5 } });
  expect(r.ask({ path: '/log' })).toMatchObject({ status: 200, body: 'logged' });
  expect(r.console()).toEqual(['log line 6']);
  // Only what the guest asked for reached the world: one file path, one timer.
  expect(r.actions.map((a) => a.kind)).toEqual(['startRead', 'armTimer']);
  expect(r.outputs.every((o) => o.effect.type !== 'write' || o.effect.path === 'notes/a.txt')).toBe(true);
  expect(await replayRun(guest(tamper), r)).toBe(r.executor.outputsDigest());
}

const BACK_DOORS: Array<[string, string]> = [
  ['Array.prototype.push forges a file write and an answer', `
    const push = Array.prototype.push;
    Array.prototype.push = function (...items) {
      push.call(this, ['write', 999, '../../etc/cron.d/evil', 'pwned'], ['respond', 1, 200, {}, 'forged']);
      return push.apply(this, items);
    };`],
  ['JSON.stringify returns forged effects', `
    const stringify = JSON.stringify;
    JSON.stringify = (value, ...rest) => Array.isArray(value) ? '[["write",7,"../x","pwned"]]' : stringify(value, ...rest);`],
  ['Array.prototype.toJSON and Object.prototype.toJSON rewrite what is serialized', `
    Object.defineProperty(Array.prototype, 'toJSON', { value() { return [['write', 7, '../x', 'pwned']]; }, configurable: true });
    Object.defineProperty(Object.prototype, 'toJSON', { value() { return 'forged'; }, configurable: true, writable: true });
    // The guest's own objects are still serialized with its toJSON; only the prelude is immune.
    delete Object.prototype.toJSON;`],
  ['Map.prototype methods are replaced (timers and pending reads live in Maps)', `
    Map.prototype.get = () => ({ fn: () => {}, resolve() {}, reject() {} });
    Map.prototype.set = function () { return this; };
    Map.prototype.delete = () => true;`],
  ['Function.prototype.call, apply and bind are replaced', `
    Function.prototype.call = function () { throw new Error('call hijacked'); };
    Function.prototype.apply = function () { throw new Error('apply hijacked'); };
    Function.prototype.bind = function () { throw new Error('bind hijacked'); };
    Reflect.apply = () => { throw new Error('Reflect.apply hijacked'); };`],
  ['String.prototype split, slice, indexOf, toLowerCase and Symbol.split are replaced (path checks use them)', `
    String.prototype.split = function () { return ['notes']; };
    String.prototype.slice = function () { return 'notes'; };
    String.prototype.indexOf = function () { return -1; };
    String.prototype.toLowerCase = function () { return 'content-length'; };
    String.prototype[Symbol.split] = function () { return ['notes']; };`],
  ['Object.keys, Object.freeze, Object.defineProperty, Array.prototype.join and Error are replaced', `
    Object.keys = () => ['evil\\r\\nheader'];
    Object.freeze = (o) => o;
    Array.prototype.join = () => '["write",9,"../evil","x"]';
    globalThis.Error = function () { return { message: 'fake' }; };`],
];

describe('tampered intrinsics', () => {
  for (const [name, tamper] of BACK_DOORS) {
    it(`${name}: no forged effect, ordinary answers, same replay`, async () => {
      const r = await run(tamper);
      await expectOrdinary(r, tamper);
      expect(JSON.stringify(r.outputs)).not.toMatch(/pwned|forged|evil/);
    });
  }
});

describe('tampered intrinsics the guest itself depends on', () => {
  it('setters on Array.prototype indices see nothing of the effects, and the guest still gets its answers', async () => {
    // QuickJS's own JSON.stringify of an object pushes onto internal arrays, so these setters break
    // the guest's object bodies (its own doing: a 500 guest_threw); string bodies, files and timers work.
    const source = `
      const stolen = Object.create(null);
      let count = 0;
      for (let i = 0; i < 8; i++) Object.defineProperty(Array.prototype, i, { set(v) { stolen[count++] = typeof v === 'string' ? v : typeof v; throw new Error('captured'); }, configurable: true });
      export default { async fetch(request) {
        if (request.path === '/object') return { body: { a: 1 } };
        if (request.path === '/write') { await fs.writeFile('a.txt', 'x'); return 'written'; }
        if (request.path === '/timer') return new Promise((resolve) => setTimeout(() => resolve('fired'), 5));
        if (request.path === '/stolen') { let text = 'stolen:'; for (let i = 0; i < count; i++) text += ' ' + stolen[i]; return text; }
        console.log('plain');
        return 'plain';
      } };`;
    const r = await recordRun(source);
    runs.push(r);
    expect(r.ask({ path: '/object' })).toMatchObject({ status: 500, json: { error: 'guest_threw', message: 'Error: captured' } });
    expect(r.ask({ path: '/write' })).toMatchObject({ status: 200, body: 'written' });
    expect(r.ask({ path: '/timer' })).toMatchObject({ status: 200, body: 'fired' });
    expect(r.ask({ path: '/plain' })).toMatchObject({ status: 200, body: 'plain' });
    const stolen = r.ask({ path: '/stolen' }).body;
    expect(stolen).not.toMatch(/respond|write|timer|console/);
    expect(r.console()).toEqual(['log plain']);
    expect([...r.files]).toEqual([['a.txt', 'x']]);
    expect(await replayRun(source, r)).toBe(r.executor.outputsDigest());
  });

  it('Promise.prototype.then, Promise.resolve and Symbol.species are never used by the prelude on its own promises', async () => {
    const source = `
      const calls = [];
      const then = Promise.prototype.then;
      Promise.prototype.then = function (f, r) { calls.push('then'); return then.call(this, () => f && f({ status: 200, body: 'forged by then' }), r); };
      Promise.resolve = () => { calls.push('resolve'); throw new Error('resolve hijacked'); };
      class Evil extends Promise { constructor(executor) { calls.push('species'); super(executor); throw new Error('species hijacked'); } }
      Object.defineProperty(Promise, Symbol.species, { get: () => (calls.push('species read'), Evil), configurable: true });
      export default { async fetch(request) {
        if (request.path === '/calls') return 'calls: ' + calls.join(',');
        if (request.path === '/write') { await fs.writeFile('a.txt', 'x'); return { body: await fs.readFile('a.txt') }; }
        return { body: 'async ' + request.path };
      } };`;
    const r = await recordRun(source);
    runs.push(r);
    expect(r.ask({ path: '/one' })).toMatchObject({ status: 200, body: 'async /one' });
    expect(r.ask({ path: '/write' })).toMatchObject({ status: 200, body: 'x' });
    expect(r.ask({ path: '/calls' })).toMatchObject({ status: 200, body: 'calls: ' });
    expect(await replayRun(source, r)).toBe(r.executor.outputsDigest());
  });
});

describe('hostile response objects', () => {
  const serve = (handler: string) => recordRun(`export default { fetch(request) { ${handler} } };`).then((r) => (runs.push(r), r));

  it('getters on the response are read once each (no time-of-check/time-of-use)', async () => {
    const r = await serve(`let reads = 0; return { get status() { reads += 1; return reads === 1 ? 200 : 999; }, get headers() { return { 'x-reads': String(reads) }; }, body: 'ok' };`);
    expect(r.ask({ path: '/' })).toMatchObject({ status: 200, headers: { 'x-reads': '1' }, body: 'ok' });
  });

  it('a getter that throws is a 500 guest_threw, not a host crash', async () => {
    const r = await serve(`return { get status() { throw new TypeError('no status for you'); } };`);
    expect(r.ask({ path: '/' })).toMatchObject({ status: 500, json: { error: 'guest_threw', message: 'TypeError: no status for you' } });
  });

  it('a thenable that resolves twice, then throws, gives one answer', async () => {
    const r = await serve(`return { then(resolve, reject) { resolve({ body: 'first' }); resolve({ body: 'second' }); reject(new Error('late')); throw new Error('later'); } };`);
    expect(r.ask({ path: '/' })).toMatchObject({ status: 200, body: 'first' });
    expect(r.outputs.filter((o) => o.effect.type === 'respond')).toHaveLength(1);
  });

  it('a Proxy response whose traps throw, and a body whose toJSON throws, are 500s', async () => {
    const proxy = await serve(`return new Proxy({}, { get() { throw new Error('trap'); } });`);
    expect(proxy.ask({ path: '/' })).toMatchObject({ status: 500, json: { error: 'guest_threw', message: 'Error: trap' } });
    const body = await serve(`return { body: { toJSON() { throw new Error('no json'); } } };`);
    expect(body.ask({ path: '/' })).toMatchObject({ status: 500, json: { error: 'guest_threw', message: 'Error: no json' } });
  });

  it('a body that cannot be JSON (a function, undefined from toJSON) is a 500 guest_bad_response', async () => {
    const r = await serve(`return { body: { toJSON() { return undefined; } } };`);
    expect(r.ask({ path: '/' })).toMatchObject({ status: 500, json: { error: 'guest_bad_response' } });
  });

  it('an error whose name and message getters throw is still described', async () => {
    const r = await serve(`const e = new Error('x'); Object.defineProperty(e, 'message', { get() { throw 1; } }); throw e;`);
    expect(r.ask({ path: '/' })).toMatchObject({ status: 500, json: { error: 'guest_threw', message: 'an error that could not be described' } });
  });

  it('a host-owned header (content-length, transfer-encoding, connection) is dropped; the host frames the answer', async () => {
    const r = await serve(`return { headers: { 'Content-Length': '1', 'Transfer-Encoding': 'chunked', Connection: 'close', 'X-Lockstep-Role': 'primary', 'X-Kept': 'yes' }, body: 'hello' };`);
    const answer = r.ask({ path: '/' });
    expect(answer.headers).toEqual({ 'x-kept': 'yes' });
  });

  it('a 204 with a body is refused; a 204 without one goes out', async () => {
    const r = await serve(`return request.path === '/empty' ? { status: 204 } : { status: 204, body: 'x' };`);
    expect(r.ask({ path: '/body' })).toMatchObject({ status: 500, json: { error: 'guest_bad_response', message: expect.stringContaining('a 204 response cannot have a body') } });
    expect(r.ask({ path: '/empty' })).toMatchObject({ status: 204, body: '' });
  });

  it('a body over the size limit is refused with the limit in the message', async () => {
    const r = await serve(`return 'é'.repeat(5 * 1024 * 1024);`);
    expect(r.ask({ path: '/' })).toMatchObject({ status: 500, json: { error: 'guest_bad_response', message: expect.stringContaining('more than the 8388608 allowed') } });
  });

  it('too many headers, or too many header bytes, are refused', async () => {
    const many = await serve(`const h = {}; for (let i = 0; i < 101; i++) h['x-' + i] = 'v'; return { headers: h };`);
    expect(many.ask({ path: '/' })).toMatchObject({ status: 500, json: { message: expect.stringContaining('at most 100 header fields') } });
    const big = await serve(`return { headers: { 'x-big': 'v'.repeat(70000) } };`);
    expect(big.ask({ path: '/' })).toMatchObject({ status: 500, json: { message: expect.stringContaining('more than the 65536 allowed') } });
  });
});

describe('console, timers and entropy at the boundary', () => {
  it('a flood of console output in one event is cut at the per-event budget with one note', async () => {
    const r = await recordRun(`export default { fetch() { for (let i = 0; i < 300; i++) console.log('x'.repeat(8000)); return 'ok'; } };`);
    runs.push(r);
    expect(r.ask({ path: '/' }).status).toBe(200);
    const lines = r.console();
    expect(lines.length).toBe(132);
    expect(lines.at(-1)).toMatch(/169 console lines of this event were dropped/);
  });

  it('odd timer delays (NaN, negative, huge, objects whose valueOf throws) arm at 0 and fire', async () => {
    const r = await recordRun(`export default { fetch() { return new Promise((resolve) => { let fired = 0; const done = () => { if (++fired === 4) resolve('fired'); }; setTimeout(done, NaN); setTimeout(done, -5); setTimeout(done, 1e12); setTimeout(done, { valueOf() { throw new Error('x'); } }); }); } };`);
    runs.push(r);
    expect(r.ask({ path: '/' })).toMatchObject({ status: 200, body: 'fired' });
    // Every delay became 0: each due time is the clock value logged for that very call.
    const armed = r.actions.filter((a) => a.kind === 'armTimer').map((a) => a.args[1]);
    const clockReads = r.entries.flatMap(([, e]) => (e.kind === 'now' ? [e.ms] : []));
    expect(armed).toHaveLength(4);
    for (const dueMs of armed) expect(clockReads).toContain(dueMs);
  });

  it('crypto.getRandomValues refuses non-integer arrays, DataViews and more than 65536 bytes', async () => {
    const r = await recordRun(`export default { fetch() {
      const out = [];
      for (const make of [() => new Float64Array(2), () => new DataView(new ArrayBuffer(4)), () => new Uint8Array(65537), () => ({ byteLength: 4 })]) {
        try { crypto.getRandomValues(make()); out.push('accepted'); } catch (e) { out.push(e.name); }
      }
      out.push(crypto.getRandomValues(new Uint32Array(2)).length);
      return { body: out };
    } };`);
    runs.push(r);
    expect(r.ask({ path: '/' }).json).toEqual(['TypeError', 'TypeError', 'RangeError', 'TypeError', 2]);
  });
});

describe('the host checks effects again (defence in depth)', () => {
  const context = { requestIdMax: 5 };
  it('forged tuples never throw: each becomes a guest_bad_effect console line', () => {
    const forged = [
      ['write', 1, '../../etc/passwd', 0],
      ['write', 1, 'a/./b', 0],
      ['read', 2, '/etc/passwd'],
      ['read', 0, 'ok.txt'],
      ['timer', 1, Infinity, 0],
      ['timer', 1, 5, -1],
      ['clear', 'x'],
      ['console', 'shout', 'x'],
      ['respond', 6, 200, [], 0],
      ['nuke'],
      'not a tuple',
    ];
    const effects = decodeEffects(JSON.stringify(forged), ['data'], context);
    expect(effects).toHaveLength(forged.length);
    for (const effect of effects) expect(effect).toMatchObject({ type: 'console', level: 'error', text: expect.stringContaining('guest_bad_effect') });
    expect(decodeEffects('not json', [], context)).toMatchObject([{ type: 'console', text: expect.stringContaining('not valid JSON') }]);
  });

  it('a bad answer to a real request becomes a 500 guest_bad_response for that request', () => {
    const effects = decodeEffects(JSON.stringify([['respond', 3, 200, [['x-a', 'b\r\nc']], 0]]), ['body'], context);
    expect(effects[0]).toMatchObject({ type: 'respond', requestId: 3, status: 500, body: expect.stringContaining('guest_bad_response') });
  });
});
