// The guest-side half of the shim: JavaScript evaluated inside QuickJS before the program.
// It defines the globals of the guest contract, removes back doors, and turns everything the
// guest asks of the world into "effects" the host collects after each event (few host calls).

/** Lives inside the guest; evaluates to the dispatcher object the host keeps a handle to. */
export const PRELUDE_SOURCE = String.raw`
(function (hostRandom, hostClockMs, faultMessagesJson) {
  'use strict';
  // A limit (CPU budget, memory, stack) surfaces as an InternalError the prelude's own catch sees:
  // it is reported as that limit, not as an ordinary throw.
  const faultMessages = JSON.parse(faultMessagesJson);
  const InternalErrorCtor = typeof InternalError === 'function' ? InternalError : undefined;
  const LIMIT_FAULTS = { 'interrupted': 'cpu_budget_exceeded', 'out of memory': 'memory_limit_exceeded', 'stack overflow': 'stack_limit_exceeded' };
  const effects = [];
  const timers = new Map();
  const ops = new Map();
  let timerSeq = 0;
  let opSeq = 0;
  let program = null;
  const ObjectFreeze = Object.freeze;
  const JSONStringify = JSON.stringify;
  const JSONParse = JSON.parse;
  const ArrayIsArray = Array.isArray;
  const PromiseCtor = Promise;
  const DateNow = Date.now;

  const CONSOLE_LINE_CHARS_MAX = 8192;
  const RANDOM_BYTES_MAX = 65536;
  const PATH_CHARS_MAX = 1024;

  function show(value) {
    if (typeof value === 'string') return value;
    if (value instanceof Error) return value.name + ': ' + value.message;
    if (value === undefined) return 'undefined';
    if (typeof value === 'function') return '[function]';
    if (typeof value === 'bigint') return String(value) + 'n';
    try { const text = JSONStringify(value); return text === undefined ? String(value) : text; } catch (e) { return String(value); }
  }
  function emitConsole(level, args) {
    let line = '';
    for (let i = 0; i < args.length; i++) line += (i ? ' ' : '') + show(args[i]);
    if (line.length > CONSOLE_LINE_CHARS_MAX) line = line.slice(0, CONSOLE_LINE_CHARS_MAX) + '... [truncated]';
    effects.push(['console', level, line]);
  }
  function describeError(error) {
    if (error instanceof Error) return error.name + ': ' + error.message;
    return 'uncaught value: ' + show(error);
  }

  const console = ObjectFreeze({
    log: (...a) => emitConsole('log', a),
    info: (...a) => emitConsole('info', a),
    debug: (...a) => emitConsole('debug', a),
    warn: (...a) => emitConsole('warn', a),
    error: (...a) => emitConsole('error', a),
  });

  function toDelayMs(value) {
    const n = Number(value);
    return n > 0 && n < 2147483647 ? Math.floor(n) : 0;
  }
  function arm(fn, delay, args, repeat) {
    if (typeof fn !== 'function') throw new TypeError('timer callback must be a function (strings are not evaluated)');
    const id = ++timerSeq;
    const delayMs = toDelayMs(delay);
    // The due time comes from the guest's own (logged) clock, so a replayer knows it too.
    const dueMs = DateNow() + delayMs;
    timers.set(id, { fn, args, intervalMs: repeat ? Math.max(1, delayMs) : 0, dueMs });
    effects.push(['timer', id, dueMs, repeat ? Math.max(1, delayMs) : 0]);
    return id;
  }
  function clear(id) {
    if (timers.delete(id)) effects.push(['clear', id]);
  }

  function normalizePath(path) {
    if (typeof path !== 'string' || path.length === 0) throw new TypeError('fs path must be a non-empty string');
    if (path.length > PATH_CHARS_MAX) throw new RangeError('fs path is longer than ' + PATH_CHARS_MAX + ' characters');
    if (path.indexOf('\0') >= 0) throw new TypeError('fs path must not contain NUL');
    const parts = [];
    for (const part of path.split('/')) {
      if (part === '' || part === '.') continue;
      if (part === '..') {
        if (parts.length === 0) throw new Error('EACCES: path escapes the data directory: ' + path);
        parts.pop();
      } else parts.push(part);
    }
    if (parts.length === 0) throw new Error('EISDIR: path names the data directory itself: ' + path);
    return parts.join('/');
  }
  function startOp(kind, path, data) {
    return new PromiseCtor((resolve, reject) => {
      const clean = normalizePath(path);
      const id = ++opSeq;
      ops.set(id, { resolve, reject });
      if (kind === 'read') effects.push(['read', id, clean]);
      else effects.push(['write', id, clean, data]);
    });
  }
  const fs = ObjectFreeze({
    readFile: (path) => startOp('read', path),
    writeFile: (path, text) => startOp('write', path, typeof text === 'string' ? text : String(text)),
  });

  function getRandomValues(array) {
    if (!ArrayBuffer.isView(array) || array instanceof Float32Array || array instanceof Float64Array || array instanceof DataView)
      throw new TypeError('crypto.getRandomValues needs an integer typed array');
    if (array.byteLength > RANDOM_BYTES_MAX) throw new RangeError('crypto.getRandomValues: at most ' + RANDOM_BYTES_MAX + ' bytes per call');
    const bytes = new Uint8Array(hostRandom(array.byteLength));
    new Uint8Array(array.buffer, array.byteOffset, array.byteLength).set(bytes);
    return array;
  }
  function randomUUID() {
    const b = getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex = '';
    for (let i = 0; i < 16; i++) hex += (b[i] + 0x100).toString(16).slice(1);
    return hex.slice(0, 8) + '-' + hex.slice(8, 12) + '-' + hex.slice(12, 16) + '-' + hex.slice(16, 20) + '-' + hex.slice(20);
  }
  const timeOrigin = hostClockMs();
  const performance = ObjectFreeze({ now: () => hostClockMs() - timeOrigin, timeOrigin });

  function refuse(name) {
    return function () { throw new TypeError(name + ' is not available in Lockstep guests: garbage-collection timing is not replicated, so it would make replicas diverge'); };
  }

  const define = (name, value) => Object.defineProperty(globalThis, name, { value, writable: true, configurable: true, enumerable: false });
  define('console', console);
  define('setTimeout', (fn, ms, ...args) => arm(fn, ms, args, false));
  define('setInterval', (fn, ms, ...args) => arm(fn, ms, args, true));
  define('clearTimeout', clear);
  define('clearInterval', clear);
  define('fs', fs);
  define('crypto', ObjectFreeze({ getRandomValues, randomUUID }));
  define('performance', performance);
  define('WeakRef', refuse('WeakRef'));
  define('FinalizationRegistry', refuse('FinalizationRegistry'));

  function normalizeResponse(value) {
    if (typeof value === 'string') return [200, {}, value];
    if (value === null || typeof value !== 'object') return [500, { 'content-type': 'application/json' }, JSONStringify({ error: 'guest_bad_response', message: 'fetch() must return a response object or a string, got ' + show(value) })];
    const status = value.status === undefined ? 200 : Number(value.status);
    const headers = {};
    if (value.headers && typeof value.headers === 'object') for (const k of Object.keys(value.headers)) headers[String(k).toLowerCase()] = String(value.headers[k]);
    let body = value.body;
    if (body === undefined || body === null) body = '';
    else if (typeof body !== 'string') { body = JSONStringify(body); if (!headers['content-type']) headers['content-type'] = 'application/json'; }
    if (!(status >= 100 && status <= 599)) return [500, { 'content-type': 'application/json' }, JSONStringify({ error: 'guest_bad_response', message: 'status must be 100..599, got ' + show(value.status) })];
    return [Math.floor(status), headers, body];
  }
  function respond(requestId, value) {
    const r = normalizeResponse(value);
    effects.push(['respond', requestId, r[0], r[1], r[2]]);
  }
  function fail(requestId, error) {
    const fault = InternalErrorCtor && error instanceof InternalErrorCtor && Object.prototype.hasOwnProperty.call(LIMIT_FAULTS, error.message) ? LIMIT_FAULTS[error.message] : undefined;
    const body = fault ? { error: fault, message: faultMessages[fault] } : { error: 'guest_threw', message: describeError(error) };
    effects.push(['respond', requestId, 500, { 'content-type': 'application/json' }, JSONStringify(body)]);
  }
  function settle(requestId, run) {
    let result;
    try { result = run(); } catch (error) { fail(requestId, error); return; }
    if (result && typeof result.then === 'function') result.then((v) => respond(requestId, v), (e) => fail(requestId, e));
    else respond(requestId, result);
  }
  function runCallback(fn, args) {
    try {
      const result = fn(...args);
      if (result && typeof result.then === 'function') result.then(undefined, (e) => effects.push(['console', 'error', 'Uncaught (in timer) ' + describeError(e)]));
    } catch (error) { effects.push(['console', 'error', 'Uncaught (in timer) ' + describeError(error)]); }
  }

  return ObjectFreeze({
    setProgram(namespace) {
      const main = namespace && namespace.default;
      if (!main || (typeof main !== 'object' && typeof main !== 'function')) throw new TypeError('the program must have a default export: export default { fetch(request) { ... } }');
      program = main;
    },
    /** Runs one event's synchronous part; promise jobs are drained by the host afterwards. */
    deliver(eventJson) {
      const e = JSONParse(eventJson);
      switch (e.kind) {
        case 'start':
          if (typeof program.start === 'function') runCallback(() => program.start(), []);
          return;
        case 'request': {
          const headers = {};
          for (const [k, v] of e.headers) headers[k] = k in headers ? headers[k] + ', ' + v : v;
          const request = ObjectFreeze({ method: e.method, path: e.path, headers: ObjectFreeze(headers), body: e.body });
          if (typeof program.fetch !== 'function') { respond(e.id, { status: 404, body: { error: 'no_fetch_handler', message: 'the program exports no fetch(request) handler' } }); return; }
          settle(e.id, () => program.fetch(request));
          return;
        }
        case 'timer': {
          const timer = timers.get(e.timerId);
          if (!timer) return; // cleared after it fired on the host: nothing to run
          if (timer.intervalMs > 0) {
            // Missed periods (the host was paused, or a failover) are skipped, not fired in a burst.
            timer.dueMs += timer.intervalMs;
            const nowMs = DateNow();
            if (timer.dueMs <= nowMs) timer.dueMs = nowMs + timer.intervalMs;
            effects.push(['timer', e.timerId, timer.dueMs, timer.intervalMs]);
          } else timers.delete(e.timerId);
          runCallback(timer.fn, timer.args);
          return;
        }
        case 'read':
        case 'write': {
          const op = ops.get(e.opId);
          if (!op) throw new Error('no pending fs operation ' + e.opId);
          ops.delete(e.opId);
          if (e.ok) op.resolve(e.kind === 'read' ? e.data : undefined);
          else op.reject(new Error(e.error));
          return;
        }
        default:
          throw new Error('unknown event kind ' + e.kind);
      }
    },
    takeEffects() {
      const text = JSONStringify(effects);
      effects.length = 0;
      return text;
    },
  });
})
`;
