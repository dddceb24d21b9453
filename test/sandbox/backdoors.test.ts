// The guest's back doors to the host, tried from inside (test/fixtures/guests/backdoors.js) against a
// scripted world: every time the guest sees is a value the world handed out, local time is UTC on
// any host TZ, Math.random is a function of the logged seed, and nothing of the host is reachable.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, REPO_DIR } from '../../scripts/record-fixtures.lib.js';

const RUNNER = join(REPO_DIR, 'test', 'fixtures', 'guests', 'run-backdoors.mjs');
const SEED_MS = 1_600_000_000_123;

interface Observed {
  times: Array<[string, number]>;
  notes: Record<string, string>;
  local: Record<string, string | number>;
  perf: number[];
  bytes: number[];
  uuid: string;
  randoms: number[];
  host: Record<string, string>;
  imports: Record<string, string>;
  gc: Record<string, string>;
  globals: string[];
  enumerable: string[];
}
interface Run {
  hostTimezoneOffset: number;
  hostHours: number;
  handedTimes: number[];
  handedBytes: number[][];
  status: number;
  observed: Observed;
  faults: unknown[];
}

/** Runs the probe in a child process whose host time zone and locale are `env`. */
function runInChild(seedMs: number, env: Record<string, string>): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [RUNNER, String(seedMs)], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(JSON.parse(stdout) as Run) : reject(new Error(`probe exited ${code}: ${stderr}`))));
  });
}

/** ECMAScript's own globals (as QuickJS has them) plus the Lockstep guest contract; nothing else may be there. */
const ALLOWED_GLOBALS = new Set([
  ...'Error EvalError RangeError ReferenceError SyntaxError TypeError URIError InternalError AggregateError Array Object Function Iterator'.split(' '),
  ...'parseInt parseFloat isNaN isFinite decodeURI decodeURIComponent encodeURI encodeURIComponent escape unescape Infinity NaN undefined eval'.split(' '),
  ...'Number Boolean String Math Reflect Symbol globalThis BigInt Date RegExp JSON Proxy Map Set WeakMap WeakSet ArrayBuffer SharedArrayBuffer DataView Promise'.split(' '),
  ...'Uint8ClampedArray Int8Array Uint8Array Int16Array Uint16Array Int32Array Uint32Array BigInt64Array BigUint64Array Float16Array Float32Array Float64Array'.split(' '),
  ...'WeakRef FinalizationRegistry'.split(' '), // present only to throw a clear error
  ...'console setTimeout setInterval clearTimeout clearInterval fs crypto performance'.split(' '),
  ...'URL URLSearchParams Headers Request Response TextEncoder TextDecoder atob btoa structuredClone queueMicrotask DOMException'.split(' '),
]);

let kiritimati: Run;
let stJohns: Run;
beforeAll(async () => {
  assertBuilt();
  [kiritimati, stJohns] = await Promise.all([
    runInChild(SEED_MS, { TZ: 'Pacific/Kiritimati', LANG: 'th_TH.UTF-8', LC_ALL: 'th_TH.UTF-8' }),
    runInChild(SEED_MS, { TZ: 'America/St_Johns', LANG: 'de_DE.UTF-8', LC_ALL: 'de_DE.UTF-8' }),
  ]);
});

describe('clock back doors', () => {
  it('the host time zones really differ (so the checks below mean something)', () => {
    expect(kiritimati.hostTimezoneOffset).toBe(-840);
    expect(stJohns.hostTimezoneOffset).toBe(210);
    expect(kiritimati.status).toBe(200);
    expect(kiritimati.faults).toEqual([]);
  });

  it('every time the guest observes is a value the world handed out', () => {
    const { observed, handedTimes } = kiritimati;
    // Each constructor reachable (Date, Date.prototype.constructor, Function('return Date')(), eval...)
    // constructed, called, Reflect.construct-ed (also with another newTarget), and its now().
    expect(observed.times.length).toBeGreaterThanOrEqual(25);
    for (const [label, ms] of observed.times) expect(handedTimes, label).toContain(ms);
    // And each reading took a fresh value: the guest cannot read the clock without the world knowing.
    const readings = observed.times.map(([, ms]) => ms);
    expect(new Set(readings).size).toBe(readings.length);
    // Object.getPrototypeOf(Date) is Function.prototype: no clock behind it.
    expect(observed.notes['new Object.getPrototypeOf(Date)']).toMatch(/threw TypeError/);
  });

  it('performance.now() is a difference of handed-out values, measured from the boot read', () => {
    const { observed, handedTimes } = kiritimati;
    const origin = handedTimes[1]!; // [0] seeds Math.random, [1] is performance.timeOrigin
    for (const t of observed.perf) expect(handedTimes).toContain(origin + t);
    expect(observed.perf[1]! - observed.perf[0]!).toBe(1000);
  });

  it('local time is UTC whatever the host TZ and locale', () => {
    for (const run of [kiritimati, stJohns]) {
      const { local } = run.observed;
      expect(local.getTimezoneOffset).toBe(0);
      expect(local.nowOffset).toBe(0);
      expect(local.getHours).toBe(23); // the host itself would say 13 (Kiritimati) or 19 (St John's)
      expect(local.getDate).toBe(1);
      expect(local.toString).toBe('Wed Jan 01 2020 23:30:15 GMT+0000');
      expect(local.toLocaleString).toBe('01/01/2020, 11:30:15 PM');
      expect(local.parseWithoutZ).toBe(Date.UTC(2020, 0, 1, 23, 30, 15));
      expect(local.localConstructor).toBe(Date.UTC(2020, 0, 1, 23, 30, 15));
      // No Intl in this QuickJS build; if one appears it must say UTC.
      expect(['absent', 'UTC']).toContain(local.intl);
    }
    expect(kiritimati.hostHours).toBe(13);
    expect(stJohns.hostHours).toBe(19);
    // The whole observation is identical on both hosts.
    expect(stJohns.observed).toEqual(kiritimati.observed);
  });
});

describe('entropy back doors', () => {
  it('crypto.getRandomValues and randomUUID return the bytes the world handed out', () => {
    const { observed, handedBytes } = kiritimati;
    expect(observed.bytes).toEqual(handedBytes[0]);
    const uuidBytes = [...handedBytes[1]!];
    uuidBytes[6] = (uuidBytes[6]! & 0x0f) | 0x40;
    uuidBytes[8] = (uuidBytes[8]! & 0x3f) | 0x80;
    expect(observed.uuid.replace(/-/g, '')).toBe(Buffer.from(uuidBytes).toString('hex'));
    expect(handedBytes).toHaveLength(2); // Math.random asked the world for nothing
  });

  it("Math.random's sequence is a function of the logged seed", async () => {
    const [same, other] = await Promise.all([runInChild(SEED_MS, {}), runInChild(SEED_MS + 1, {})]);
    expect(kiritimati.handedTimes[0]).toBe(SEED_MS); // the seed is the first clock read: logged
    expect(same.observed.randoms).toEqual(kiritimati.observed.randoms);
    expect(other.observed.randoms).not.toEqual(kiritimati.observed.randoms);
    for (const r of kiritimati.observed.randoms) expect(r >= 0 && r < 1).toBe(true);
    expect(new Set(kiritimati.observed.randoms).size).toBe(5);
  });
});

describe('host back doors', () => {
  it('WeakRef and FinalizationRegistry throw a clear error', () => {
    for (const name of ['WeakRef', 'FinalizationRegistry']) {
      expect(kiritimati.observed.gc[name]).toMatch(new RegExp(`^TypeError: ${name} is not available in Lockstep guests: garbage-collection timing is not replicated`));
    }
  });

  it('require, process, std, os and the shim internals are not there', () => {
    for (const [name, type] of Object.entries(kiritimati.observed.host)) expect(type, name).toBe('undefined');
  });

  it('import() of anything is refused', () => {
    const { imports } = kiritimati.observed;
    expect(Object.keys(imports)).toHaveLength(7);
    for (const [spec, result] of Object.entries(imports)) expect(result, spec).toMatch(/^refused: could not load module/);
  });

  it('globalThis shows nothing of the host', () => {
    const { globals, enumerable } = kiritimati.observed;
    expect(globals.filter((name) => !ALLOWED_GLOBALS.has(name))).toEqual([]);
    expect(globals).toContain('fs');
    expect(enumerable).toEqual([]);
  });
});
