// The guest-side half of the shim: JavaScript evaluated inside QuickJS before the program.
// It defines the globals of the guest contract, removes back doors, and turns everything the
// guest asks of the world into "effects" the host collects after each event (few host calls).
//
// The guest runs in the same realm and may replace any built-in (Array.prototype.push,
// JSON.stringify, Object.prototype.toJSON, Symbol.species, String.prototype[Symbol.split] ...).
// So the prelude captures every intrinsic it uses before the program runs, calls them uncurried,
// keeps effects as JSON text in null-prototype containers the guest cannot reach, and never hands
// an object to JSON.stringify. The host validates the effects again (src/sandbox/effects.ts).

/** Lives inside the guest; evaluates to the dispatcher object the host keeps a handle to. */
export const PRELUDE_SOURCE = String.raw`
(function (hostRandom, hostClockMs, faultMessagesJson, webBundle, urlLib) {
  'use strict';
  // ---- intrinsics, captured before any guest code runs ----------------------------------------
  const uncurryThis = Function.prototype.bind.bind(Function.prototype.call);
  const ReflectApply = Reflect.apply;
  const ObjectFreeze = Object.freeze;
  const ObjectKeys = Object.keys;
  const ObjectDefineProperty = Object.defineProperty;
  const ObjectSetPrototypeOf = Object.setPrototypeOf;
  const ObjectGetOwnPropertyDescriptor = Object.getOwnPropertyDescriptor;
  const ObjectHasOwn = uncurryThis(Object.prototype.hasOwnProperty);
  const JSONStringify = JSON.stringify;
  const JSONParse = JSON.parse;
  const StringCtor = String;
  const NumberCtor = Number;
  const MathFloor = Math.floor;
  const MathMax = Math.max;
  const NumberIsFinite = Number.isFinite;
  const StringSlice = uncurryThis(String.prototype.slice);
  const StringIndexOf = uncurryThis(String.prototype.indexOf);
  const StringToLowerCase = uncurryThis(String.prototype.toLowerCase);
  const ArrayJoin = uncurryThis(Array.prototype.join);
  const MapCtor = Map;
  const MapGet = uncurryThis(Map.prototype.get);
  const MapSet = uncurryThis(Map.prototype.set);
  const MapHas = uncurryThis(Map.prototype.has);
  const MapDelete = uncurryThis(Map.prototype.delete);
  const PromiseCtor = Promise;
  const ErrorCtor = Error;
  const TypeErrorCtor = TypeError;
  const RangeErrorCtor = RangeError;
  const ArrayBufferIsView = ArrayBuffer.isView;
  const Uint8ArrayCtor = Uint8Array;
  const TypedArrayPrototype = Object.getPrototypeOf(Uint8Array.prototype);
  const TypedArrayByteLength = uncurryThis(Object.getOwnPropertyDescriptor(TypedArrayPrototype, 'byteLength').get);
  const TypedArrayByteOffset = uncurryThis(Object.getOwnPropertyDescriptor(TypedArrayPrototype, 'byteOffset').get);
  const TypedArrayBuffer = uncurryThis(Object.getOwnPropertyDescriptor(TypedArrayPrototype, 'buffer').get);
  const TypedArrayTag = uncurryThis(Object.getOwnPropertyDescriptor(TypedArrayPrototype, Symbol.toStringTag).get);
  const TypedArraySet = uncurryThis(TypedArrayPrototype.set);
  const ArrayBufferByteLength = uncurryThis(Object.getOwnPropertyDescriptor(ArrayBuffer.prototype, 'byteLength').get);
  const DataViewBuffer = uncurryThis(Object.getOwnPropertyDescriptor(DataView.prototype, 'buffer').get);
  const DataViewByteOffset = uncurryThis(Object.getOwnPropertyDescriptor(DataView.prototype, 'byteOffset').get);
  const DataViewByteLength = uncurryThis(Object.getOwnPropertyDescriptor(DataView.prototype, 'byteLength').get);
  const DateNow = Date.now;
  const InternalErrorCtor = typeof InternalError === 'function' ? InternalError : undefined;
  // The Web APIs (src/sandbox/web), evaluated just before this prelude; only these two internals
  // reach the host side, and both read private fields, so no guest code runs inside them.
  const WEB = webBundle.web;
  const requestFromHost = webBundle.internals.requestFromHost;
  const responseParts = webBundle.internals.responseParts;
  const makeStorage = webBundle.internals.makeStorage;
  const serializeStorage = webBundle.internals.serializeStorage;
  const captureStorage = webBundle.internals.captureStorage;
  const settleStorage = webBundle.internals.settleStorage;
  const rollBackStorage = webBundle.internals.rollBackStorage;

  // A limit (CPU budget, memory, stack) surfaces as an InternalError the prelude's own catch sees:
  // it is reported as that limit, not as an ordinary throw.
  const faultMessages = JSONParse(faultMessagesJson);
  const LIMIT_FAULTS = nullObject({ 'interrupted': 'cpu_budget_exceeded', 'out of memory': 'memory_limit_exceeded', 'stack overflow': 'stack_limit_exceeded' });
  const FAULT_MESSAGES = nullObject(faultMessages);

  const CONSOLE_LINE_CHARS_MAX = 8192;
  /** Console text per event past which lines are dropped (keeps the host's copy small). */
  const CONSOLE_CHARS_PER_EVENT_MAX = 1048576;
  const RANDOM_BYTES_MAX = 65536;
  const PATH_CHARS_MAX = 1024;
  const TIMER_DELAY_MS_MAX = 2147483647;

  function nullObject(source) {
    const target = ObjectSetPrototypeOf({}, null);
    if (source) { const keys = ObjectKeys(source); for (let i = 0; i < keys.length; i++) target[keys[i]] = source[keys[i]]; }
    return target;
  }
  function nullArray() { return ObjectSetPrototypeOf([], null); }

  // ---- effects: JSON text per effect, plus blobs (bodies, file data) kept out of the JSON --------
  let pieces = nullArray();
  let pieceCount = 0;
  let blobs = nullArray();
  let blobCount = 0;
  let consoleChars = 0;
  let consoleDropped = 0;
  const q = (value) => JSONStringify(value); // only ever given primitives: no toJSON is consulted
  function emit(text) { pieces[pieceCount++] = text; }
  /**
   * The effects emitted so far, in a container the guest never saw: [text, blob 0, blob 1, ...], where
   * text is the end flag ('0' or '1'), one letter per blob ('s' text, 'b' anything else) and the
   * effects' JSON: the host reads it all with one string. Everything is allocated before anything is
   * reset, so if memory runs out here the effects stay where they were.
   */
  function takeSoFar(endFlag) {
    const result = nullArray();
    let kinds = '';
    for (let i = 0; i < blobCount; i++) kinds += typeof blobs[i] === 'string' ? 's' : 'b';
    result[0] = endFlag + kinds + '[' + ArrayJoin(pieces, ',') + ']';
    for (let i = 0; i < blobCount; i++) result[i + 1] = blobs[i];
    const freshPieces = nullArray();
    const freshBlobs = nullArray();
    pieces = freshPieces;
    pieceCount = 0;
    blobs = freshBlobs;
    blobCount = 0;
    return result;
  }
  /** deliver()'s answer when memory ran out while it copied the effects (made now: it needs no memory then). */
  const NOT_TAKEN = ObjectFreeze(nullObject({ 0: 'n' }));
  /** Set when the event's synchronous part left a promise job that will certainly run (an answer awaited). */
  let jobsCertain = false;
  /** False until the first event (start) is delivered: the module's top-level console lines count with it. */
  let started = false;
  function blob(value) { blobs[blobCount] = value; return blobCount++; }

  const timers = new MapCtor();
  const ops = new MapCtor();
  let timerSeq = 0;
  let opSeq = 0;
  let program = null;

  function safeString(value) {
    try { return typeof value === 'string' ? value : StringCtor(value); } catch (e) { return '[unprintable]'; }
  }
  function show(value) {
    if (typeof value === 'string') return value;
    if (value === undefined) return 'undefined';
    if (typeof value === 'function') return '[function]';
    if (typeof value === 'bigint') return safeString(value) + 'n';
    if (typeof value === 'symbol') return safeString(value);
    try {
      if (value instanceof ErrorCtor) return describeError(value);
      const text = JSONStringify(value);
      return typeof text === 'string' ? text : safeString(value);
    } catch (e) { return safeString(value); }
  }
  function describeError(error) {
    try {
      if (error instanceof ErrorCtor) return safeString(error.name) + ': ' + safeString(error.message);
    } catch (e) { return 'an error that could not be described'; }
    return 'uncaught value: ' + show(error);
  }
  function emitConsole(level, args) {
    let line = '';
    for (let i = 0; i < args.length; i++) line += (i ? ' ' : '') + show(args[i]);
    if (line.length > CONSOLE_LINE_CHARS_MAX) line = StringSlice(line, 0, CONSOLE_LINE_CHARS_MAX) + '... [truncated]';
    if (consoleChars + line.length > CONSOLE_CHARS_PER_EVENT_MAX) { consoleDropped++; return; }
    consoleChars += line.length;
    emit('["console",' + q(level) + ',' + q(line) + ']');
  }

  const console = ObjectFreeze({
    log: (...a) => emitConsole('log', a),
    info: (...a) => emitConsole('info', a),
    debug: (...a) => emitConsole('debug', a),
    warn: (...a) => emitConsole('warn', a),
    error: (...a) => emitConsole('error', a),
  });

  // ---- timers -------------------------------------------------------------------------------
  function toDelayMs(value) {
    let n;
    try { n = NumberCtor(value); } catch (e) { n = 0; }
    return n > 0 && n < TIMER_DELAY_MS_MAX ? MathFloor(n) : 0;
  }
  function arm(fn, delay, args, repeat) {
    if (typeof fn !== 'function') throw new TypeErrorCtor('timer callback must be a function (strings are not evaluated)');
    const delayMs = toDelayMs(delay);
    const id = ++timerSeq;
    const intervalMs = repeat ? MathMax(1, delayMs) : 0;
    // The due time comes from the guest's own (logged) clock, so a replayer knows it too.
    const dueMs = DateNow() + delayMs;
    MapSet(timers, id, { fn, args, intervalMs, dueMs });
    emit('["timer",' + id + ',' + q(dueMs) + ',' + intervalMs + ']');
    return id;
  }
  function clear(id) {
    if (typeof id === 'number' && MapDelete(timers, id)) emit('["clear",' + id + ']');
  }

  // ---- files --------------------------------------------------------------------------------
  function normalizePath(path) {
    if (typeof path !== 'string' || path.length === 0) throw new TypeErrorCtor('fs path must be a non-empty string');
    if (path.length > PATH_CHARS_MAX) throw new RangeErrorCtor('fs path is longer than ' + PATH_CHARS_MAX + ' characters');
    if (StringIndexOf(path, '\0') >= 0) throw new TypeErrorCtor('fs path must not contain NUL');
    const parts = nullArray();
    let count = 0;
    let start = 0;
    for (;;) {
      const slash = StringIndexOf(path, '/', start);
      const part = StringSlice(path, start, slash < 0 ? path.length : slash);
      if (part === '..') {
        if (count === 0) throw new ErrorCtor('EACCES: path escapes the data directory: ' + path);
        count--;
      } else if (part !== '' && part !== '.') parts[count++] = part;
      if (slash < 0) break;
      start = slash + 1;
    }
    if (count === 0) throw new ErrorCtor('EISDIR: path names the data directory itself: ' + path);
    if (parts[0] === HOST_DIR) throw new ErrorCtor('EACCES: ' + HOST_DIR + '/ is reserved for the host (env.storage, temporary files); use another name: ' + path);
    parts.length = count;
    return ArrayJoin(parts, '/');
  }
  /** An operation of the prelude itself (env.storage): plain callbacks, no promise the guest could see. */
  function startInternalOp(kind, path, data, onDone, onFail) {
    const id = ++opSeq;
    MapSet(ops, id, { resolve: onDone, reject: onFail, internal: true });
    if (kind === 'read') emit('["read",' + id + ',' + q(path) + ']');
    else emit('["write",' + id + ',' + q(path) + ',' + blob(data) + ']');
  }
  function startOp(kind, path, data) {
    return new PromiseCtor((resolve, reject) => {
      const clean = normalizePath(path);
      const id = ++opSeq;
      MapSet(ops, id, { resolve, reject });
      if (kind === 'read') emit('["read",' + id + ',' + q(clean) + ']');
      else emit('["write",' + id + ',' + q(clean) + ',' + blob(data) + ']');
    });
  }
  const fs = ObjectFreeze({
    readFile: (path) => startOp('read', path),
    writeFile: (path, text) => startOp('write', path, safeString(text)),
  });

  // ---- entropy and clock --------------------------------------------------------------------
  function isIntegerTypedArray(array) {
    if (!ArrayBufferIsView(array)) return false;
    let tag;
    try { tag = TypedArrayTag(array); } catch (e) { return false; } // a DataView has no typed-array tag
    return tag !== undefined && tag !== 'Float16Array' && tag !== 'Float32Array' && tag !== 'Float64Array';
  }
  function getRandomValues(array) {
    if (!isIntegerTypedArray(array)) throw new TypeErrorCtor('crypto.getRandomValues needs an integer typed array');
    const length = TypedArrayByteLength(array);
    if (length > RANDOM_BYTES_MAX) throw new RangeErrorCtor('crypto.getRandomValues: at most ' + RANDOM_BYTES_MAX + ' bytes per call');
    const bytes = new Uint8ArrayCtor(hostRandom(length));
    TypedArraySet(new Uint8ArrayCtor(TypedArrayBuffer(array), TypedArrayByteOffset(array), length), bytes);
    return array;
  }
  function randomUUID() {
    const b = getRandomValues(new Uint8ArrayCtor(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const digits = '0123456789abcdef';
    let hex = '';
    for (let i = 0; i < 16; i++) {
      if (i === 4 || i === 6 || i === 8 || i === 10) hex += '-';
      hex += digits[b[i] >> 4] + digits[b[i] & 15];
    }
    return hex;
  }
  const timeOrigin = hostClockMs();
  const performance = ObjectFreeze({ now: () => hostClockMs() - timeOrigin, timeOrigin });

  function refuse(name) {
    return function () { throw new TypeErrorCtor(name + ' is not available in Lockstep guests: garbage-collection timing is not replicated, so it would make replicas diverge'); };
  }

  const define = (name, value) => ObjectDefineProperty(globalThis, name, { value, writable: true, configurable: true, enumerable: false });
  define('console', console);
  define('setTimeout', (fn, ms, ...args) => arm(fn, ms, args, false));
  define('setInterval', (fn, ms, ...args) => arm(fn, ms, args, true));
  define('clearTimeout', clear);
  define('clearInterval', clear);
  define('fs', fs);
  define('crypto', ObjectFreeze({ getRandomValues, randomUUID }));
  define('performance', performance);
  const webNames = ObjectKeys(WEB);
  for (let i = 0; i < webNames.length; i++) define(webNames[i], WEB[webNames[i]]);
  // core-js-pure's URL, URLSearchParams and structuredClone, evaluated at setup like the rest: a
  // guest's first use of them costs nothing extra (evaluating them inside an event was a pause of
  // tens of ms, seconds under load, on both nodes at once).
  define('URL', urlLib.URL);
  define('URLSearchParams', urlLib.URLSearchParams);
  define('structuredClone', urlLib.structuredClone);
  webBundle.internals.setUrlLib(urlLib);
  define('queueMicrotask', (fn) => {
    if (typeof fn !== 'function') throw new TypeErrorCtor('queueMicrotask needs a function');
    runMicrotask(fn);
  });
  define('WeakRef', refuse('WeakRef'));
  define('FinalizationRegistry', refuse('FinalizationRegistry'));

  // ---- env.storage: kept in the guest heap, persisted after each event that changed it --------
  // Every change gets a number; a whole-store write after the event covers all changes so far.
  // An answer given after change n is held until a write covering n is on disk (the output rule
  // makes the log durable on the secondary; this makes the state durable on the shared disk).
  // A write that fails leaves no trace: every change not yet on disk is rolled back (later ones
  // were made on top of the failed ones), their calls reject and their held answers are withdrawn,
  // and the store as it was is written again (in case the failed write replaced the file before it
  // failed). All of it follows the logged write event, so a replay does exactly the same.
  // The host's own directory in the guest's data (src/host/data-dir.ts HOST_DIR): no guest path may name it.
  const HOST_DIR = '.lockstep';
  const STORAGE_PATH = '.lockstep/storage.json';
  let storageChanges = 0;
  let storageDurableAt = 0;
  let storageDirty = false;
  let storageWriting = false;
  let storageWriteEvent = false;
  let storageWaiters = nullArray();
  let heldAnswers = nullArray();
  let storageWritingState = null;
  const storage = makeStorage(ObjectFreeze({
    load: () => new PromiseCtor((resolve, reject) => startInternalOp('read', STORAGE_PATH, undefined, resolve, (error) => {
      if (StringIndexOf(safeString(error && error.message), 'ENOENT') === 0) resolve(null);
      else reject(error);
    })),
    changed: () => { storageDirty = true; return ++storageChanges; },
    durable: (n) => new PromiseCtor((resolve, reject) => {
      if (storageDurableAt >= n) resolve();
      else storageWaiters[storageWaiters.length] = { n, resolve, reject };
    }),
  }));
  function flushStorage() {
    if (!storageDirty || storageWriting || storageWriteEvent) return;
    storageDirty = false;
    storageWriting = true;
    const covers = storageChanges;
    storageWritingState = captureStorage(storage);
    startInternalOp('write', STORAGE_PATH, serializeStorage(storage), () => storageWritten(covers, undefined), (error) => storageWritten(covers, error));
  }
  function storageWritten(covers, error) {
    storageWriting = false;
    if (error) {
      rollBackStorage(storage);
      covers = storageChanges; // every change not on disk is withdrawn, so none is pending any more
      storageDirty = true;
      storageWriteEvent = true; // rewritten at the end of the next other event, not in a loop of failures
    } else settleStorage(storage, storageWritingState);
    storageWritingState = null;
    storageDurableAt = covers;
    const waiters = storageWaiters;
    storageWaiters = nullArray();
    for (let i = 0; i < waiters.length; i++) {
      const w = waiters[i];
      if (w.n > covers) storageWaiters[storageWaiters.length] = w;
      else if (error) w.reject(error);
      else w.resolve();
    }
    const held = heldAnswers;
    heldAnswers = nullArray();
    for (let i = 0; i < held.length; i++) {
      const a = held[i];
      if (a.n > covers) heldAnswers[heldAnswers.length] = a;
      else if (error) emitRespondNow(a.requestId, 500, '[["content-type","application/json"]]', '{"error":"storage_write_failed","message":' + q('env.storage could not be written, so this answer (given after a change) was withdrawn: ' + describeError(error)) + '}');
      else emitRespondNow(a.requestId, a.status, a.headerJson, a.body);
    }
  }

  // ---- responses ----------------------------------------------------------------------------
  // The prelude only turns what the guest returned into (status, header pairs, body) of primitive
  // types, reading each property once. Whether those are acceptable HTTP (status range, header
  // syntax, body size) is decided by the host from the effect alone (src/sandbox/effects.ts).
  function emitRespondNow(requestId, status, headerPairsJson, body) {
    emit('["respond",' + requestId + ',' + q(status) + ',' + headerPairsJson + ',' + blob(body) + ']');
  }
  function emitRespond(requestId, status, headerPairsJson, body) {
    if (storageChanges > storageDurableAt) heldAnswers[heldAnswers.length] = { n: storageChanges, requestId, status, headerJson: headerPairsJson, body };
    else emitRespondNow(requestId, status, headerPairsJson, body);
  }
  // Error bodies are built by hand: QuickJS's JSON.stringify of an object pushes onto internal arrays,
  // which a guest's setters on Array.prototype indices would see.
  function emitError(requestId, code, message) {
    emitRespond(requestId, 500, '[["content-type","application/json"]]', '{"error":' + q(code) + ',"message":' + q(message) + '}');
  }
  function emitBadResponse(requestId, message) { emitError(requestId, 'guest_bad_response', message); }
  /**
   * A copy of the bytes of an ArrayBuffer, typed array or DataView, as an ArrayBuffer; null for
   * anything else. Only captured getters and constructors run: no guest code (no species lookup).
   */
  function bytesOf(value) {
    if (value === null || typeof value !== 'object') return null;
    let view;
    try {
      if (!ArrayBufferIsView(value)) view = new Uint8ArrayCtor(value, 0, ArrayBufferByteLength(value));
      else {
        try { view = new Uint8ArrayCtor(TypedArrayBuffer(value), TypedArrayByteOffset(value), TypedArrayByteLength(value)); }
        catch (e) { view = new Uint8ArrayCtor(DataViewBuffer(value), DataViewByteOffset(value), DataViewByteLength(value)); }
      }
    } catch (e) { return null; }
    const copy = new Uint8ArrayCtor(TypedArrayByteLength(view));
    TypedArraySet(copy, view);
    return TypedArrayBuffer(copy);
  }
  function respondWithResponse(requestId, parts) {
    if (typeof parts === 'string') { emitBadResponse(requestId, parts); return; }
    const pairs = parts[1];
    let headerJson = '';
    for (let i = 0; i < pairs.length; i++) headerJson += (i ? ',' : '') + '[' + q(safeString(pairs[i][0])) + ',' + q(safeString(pairs[i][1])) + ']';
    let body = parts[2];
    if (body === null || body === undefined) body = '';
    else if (typeof body !== 'string') {
      body = bytesOf(body);
      if (body === null) { emitBadResponse(requestId, 'the response body is neither text nor bytes'); return; }
    }
    emitRespond(requestId, parts[0], '[' + headerJson + ']', body);
  }
  function respondWith(requestId, value) {
    if (typeof value === 'string') { emitRespond(requestId, 200, '[]', value); return; }
    if (value === null || typeof value !== 'object') { emitBadResponse(requestId, 'fetch() must return a Response, a response object or a string, got ' + show(value)); return; }
    const parts = responseParts(value);
    if (parts !== null) { respondWithResponse(requestId, parts); return; }
    const rawStatus = value.status;
    const rawHeaders = value.headers;
    let body = value.body;
    const status = rawStatus === undefined ? 200 : NumberCtor(rawStatus);
    let headerJson = '';
    let hasContentType = false;
    if (rawHeaders !== null && typeof rawHeaders === 'object') {
      const names = ObjectKeys(rawHeaders);
      for (let i = 0; i < names.length; i++) {
        const name = StringToLowerCase(safeString(names[i]));
        if (name === 'content-type') hasContentType = true;
        headerJson += (headerJson ? ',' : '') + '[' + q(name) + ',' + q(safeString(rawHeaders[names[i]])) + ']';
      }
    }
    const bytes = bytesOf(body);
    if (body === undefined || body === null) body = '';
    else if (bytes !== null) body = bytes; // an ArrayBuffer or typed array goes out byte for byte
    else if (typeof body !== 'string') {
      const text = JSONStringify(body);
      if (typeof text !== 'string') { emitBadResponse(requestId, 'the response body cannot be sent as JSON: ' + show(body)); return; }
      body = text;
      if (!hasContentType) headerJson += (headerJson ? ',' : '') + '["content-type","application/json"]';
    }
    emitRespond(requestId, status, '[' + headerJson + ']', body);
  }
  function fail(requestId, error) {
    let fault;
    try {
      if (InternalErrorCtor && error instanceof InternalErrorCtor) {
        const message = error.message;
        if (typeof message === 'string' && ObjectHasOwn(LIMIT_FAULTS, message)) fault = LIMIT_FAULTS[message];
      }
    } catch (e) { fault = undefined; }
    if (fault) emitError(requestId, fault, FAULT_MESSAGES[fault]);
    else emitError(requestId, 'guest_threw', describeError(error));
  }
  function isThenable(value) {
    return value !== null && (typeof value === 'object' || typeof value === 'function') && typeof value.then === 'function';
  }
  // If even describing the failure fails (a limit hit again), the answer says so in constant text.
  function failSafely(requestId, error) {
    try { fail(requestId, error); } catch (e) { emitError(requestId, 'guest_threw', 'the handler failed, and so did describing its error'); }
  }
  // Exactly one answer per request: each path below ends in one respondWith or one failSafely.
  function settle(requestId, run) {
    let result;
    try {
      result = run();
      if (!isThenable(result)) { respondWith(requestId, result); return; }
    } catch (error) { failSafely(requestId, error); return; }
    settleLater(requestId, result);
  }
  // await (not .then) on purpose: it never looks up Promise.prototype.then or a species constructor.
  async function settleLater(requestId, thenable) {
    jobsCertain = true;
    let value;
    try { value = await thenable; } catch (error) { failSafely(requestId, error); return; }
    try { respondWith(requestId, value); } catch (error) { failSafely(requestId, error); }
  }
  function reportTimerError(error) {
    emitConsole('error', oneArgument('Uncaught (in timer) ' + describeError(error)));
  }
  function oneArgument(text) { const a = nullArray(); a[0] = text; return a; }
  async function watchTimerPromise(thenable) {
    try { await thenable; } catch (error) { reportTimerError(error); }
  }
  function runCallback(fn, args) {
    try {
      const result = ReflectApply(fn, undefined, args);
      if (isThenable(result)) watchTimerPromise(result);
    } catch (error) { reportTimerError(error); }
  }
  async function runMicrotask(fn) {
    await undefined;
    try { ReflectApply(fn, undefined, nullArray()); } catch (error) { emitConsole('error', oneArgument('Uncaught (in microtask) ' + describeError(error))); }
  }
  async function watchWaitUntil(thenable) {
    try { await thenable; } catch (error) { emitConsole('error', oneArgument('Uncaught (in waitUntil) ' + describeError(error))); }
  }
  function deliverRequest(requestId, method, path, headerSource, bodyText, bodyBuffer) {
    settle(requestId, () => {
      const handler = program.fetch;
      if (typeof handler !== 'function') return { status: 404, body: { error: 'no_fetch_handler', message: 'the program exports no fetch(request) handler' } };
      return ReflectApply(handler, program, [requestFromHost(method, path, headerSource, bodyText, bodyBuffer), env, ctx]);
    });
  }
  function deliverEvent(e, bodyBuffer) {
    switch (e.kind) {
      case 'start':
        runCallback(() => { const start = program.start; if (typeof start === 'function') return ReflectApply(start, program, [env]); }, nullArray());
        return;
      case 'request':
        deliverRequest(e.id, e.method, e.path, e.headers, e.body === null ? '' : e.body, bodyBuffer);
        return;
      case 'timer': {
        const timer = MapGet(timers, e.timerId);
        if (!timer) return; // cleared after it fired on the host: nothing to run
        if (timer.intervalMs > 0) {
          // Missed periods (the host was paused, or a failover) are skipped, not fired in a burst.
          timer.dueMs += timer.intervalMs;
          const nowMs = DateNow();
          if (timer.dueMs <= nowMs) timer.dueMs = nowMs + timer.intervalMs;
          emit('["timer",' + e.timerId + ',' + q(timer.dueMs) + ',' + timer.intervalMs + ']');
        } else MapDelete(timers, e.timerId);
        runCallback(timer.fn, timer.args);
        return;
      }
      case 'read':
      case 'write': {
        const op = MapGet(ops, e.opId);
        if (!op) throw new ErrorCtor('no pending fs operation ' + e.opId);
        MapDelete(ops, e.opId);
        if (e.ok) op.resolve(e.kind === 'read' ? e.data : undefined);
        else op.reject(new ErrorCtor(e.error));
        return;
      }
      default:
        throw new ErrorCtor('unknown event kind ' + e.kind);
    }
  }
  const env = ObjectFreeze({ storage });
  const ctx = ObjectFreeze({
    // Events run to completion with every promise job, so work a handler leaves behind finishes anyway.
    waitUntil(promise) { if (isThenable(promise)) watchWaitUntil(promise); },
    passThroughOnException() {},
  });
  return ObjectFreeze({
    setProgram(namespace) {
      const main = namespace && namespace.default;
      if (!main || (typeof main !== 'object' && typeof main !== 'function')) throw new TypeErrorCtor('the program must have a default export: export default { fetch(request) { ... } }');
      program = main;
    },
    /**
     * Runs one event's synchronous part; promise jobs are drained by the host afterwards. Two forms:
     *  - deliver(requestId, method, path, headersJson, bodyText, bodyBuffer): a request, its fields as
     *    they are (the header pairs as JSON text, parsed only if the guest asks for them);
     *  - deliver(eventJson, bodyBuffer): any event as JSON text.
     * bodyBuffer: a request body that is not UTF-8, as an ArrayBuffer (else the text holds it; null: empty).
     * Returns what takeEffects would (the effects so far, see takeSoFar), or a container whose text
     * is 'n' if they were not copied (no room, or promise jobs will run anyway). The end flag is 1 when endEvent() or the final takeEffects() has work to do even if no promise
     * job runs (env.storage to write, console lines dropped), else 0: the host then calls neither.
     */
    deliver(first, a, b, c, d, e) {
      // The counters of the console budget are per event: reset here when the last event ended
      // without a final takeEffects() (the start event also counts what the module's top level logged).
      if (started) { consoleChars = 0; consoleDropped = 0; }
      started = true;
      if (typeof first === 'number') deliverRequest(first, a, b, c, d === null ? '' : d, e);
      else deliverEvent(JSONParse(first), a);
      // A handler that answers later leaves promise jobs: the host runs them, endEvent() and the
      // final takeEffects() anyway, so copying the effects now would be work done twice.
      if (jobsCertain) { jobsCertain = false; return NOT_TAKEN; }
      const endFlag = storageWriteEvent || (storageDirty && !storageWriting) || consoleDropped > 0 ? '1' : '0';
      try {
        return takeSoFar(endFlag);
      } catch (error) {
        return NOT_TAKEN; // out of memory: the host takes them with its headroom (endEvent, takeEffects)
      }
    },

    /** After the event's promise jobs ran (within its CPU budget): persists env.storage if it changed. */
    endEvent() {
      flushStorage();
      storageWriteEvent = false;
    },
    /** The event's last effects (see takeSoFar; its end flag means nothing here); resets for the next event. */
    takeEffects() {
      if (consoleDropped > 0) emit('["console","error",' + q('[lockstep] ' + consoleDropped + ' console lines of this event were dropped: more than ' + CONSOLE_CHARS_PER_EVENT_MAX + ' characters of console output in one event') + ']');
      const result = takeSoFar('1');
      consoleChars = 0;
      consoleDropped = 0;
      return result;
    },
  });
})
`;
