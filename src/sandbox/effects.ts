// What a guest asks of the world during one event, as the prelude reports it to the host.
// Responses, console lines and disk writes are outputs (subject to the output rule); timers and
// reads are requests the host carries out (live) or expects to see completed in the log (replay).
// This is the sandbox boundary: effects are untrusted input, checked here by pure functions of the
// effect alone, so record and replay decide alike and nothing a guest returns can crash the host.

/** Text goes out as UTF-8; bytes (a Response of an ArrayBuffer or typed array) go out as they are. */
export type ResponseBody = string | Uint8Array;

export type ConsoleLevel = 'log' | 'info' | 'debug' | 'warn' | 'error';

export type Effect =
  | { type: 'respond'; requestId: number; status: number; headers: Record<string, string>; body: ResponseBody }
  | { type: 'console'; level: ConsoleLevel; text: string }
  | { type: 'timer'; timerId: number; dueMs: number; intervalMs: number }
  | { type: 'clear'; timerId: number }
  | { type: 'read'; opId: number; path: string }
  | { type: 'write'; opId: number; path: string; data: string };

/** Outputs are what leaves the system; only they are digested and gated. */
export type OutputEffect = Extract<Effect, { type: 'respond' | 'console' | 'write' }>;

export function isOutput(effect: Effect): effect is OutputEffect {
  return effect.type === 'respond' || effect.type === 'console' || effect.type === 'write';
}

/** Statuses a guest may answer with: the Fetch standard's range (1xx would break the connection). */
export const RESPONSE_STATUS_MIN = 200;
export const RESPONSE_STATUS_MAX = 599;
/** Header fields per response: node:http's default for requests, applied to answers too. */
export const RESPONSE_HEADERS_MAX = 100;
/** Bytes of header names and values per response (node:http reads at most 16 KiB of request headers). */
export const RESPONSE_HEADER_BYTES_MAX = 64 * 1024;
/** Response body bytes (UTF-8): an answer is held in memory by the idempotency store. */
export const RESPONSE_BODY_BYTES_MAX = 8 * 1024 * 1024;
export const CONSOLE_TEXT_CHARS_MAX = 8192 + 64;
export const PATH_CHARS_MAX = 1024;
/** Timer ids, op ids and request ids are small positive integers counted by the prelude or the log. */
const ID_MAX = Number.MAX_SAFE_INTEGER;
/** node's setTimeout bound; longer intervals would fire at once. */
export const TIMER_INTERVAL_MS_MAX = 2_147_483_647;

/** The host writes these itself (framing, connection management, the role); a guest's are dropped. */
export const HOST_OWNED_HEADERS: ReadonlySet<string> = new Set([
  'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'proxy-connection', 'te', 'trailer', 'x-lockstep-role',
]);
/** Statuses that cannot carry a body (node drops it silently; Fetch's Response refuses it). */
const NULL_BODY_STATUSES: ReadonlySet<number> = new Set([204, 205, 304]);

/** RFC 7230 token, as node:http checks header names. */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** RFC 7230 field-value as node:http checks it: no control characters but tab, nothing past U+00FF. */
const HEADER_VALUE_BAD_CHAR = /[^\t\x20-\x7e\x80-\xff]/;

const CONSOLE_LEVELS: ReadonlySet<string> = new Set(['log', 'info', 'debug', 'warn', 'error']);

export const BAD_RESPONSE_CODE = 'guest_bad_response';
export const BAD_EFFECT_CODE = 'guest_bad_effect';

export interface DecodeContext {
  /** The highest request id delivered so far: a guest cannot answer a request that has not arrived. */
  requestIdMax: number;
}

/** Why a response cannot be sent, or undefined when it can. Pure: the same on record and replay. */
export function responseProblem(status: unknown, headers: unknown, body: unknown): string | undefined {
  if (typeof status !== 'number' || !Number.isInteger(status) || status < RESPONSE_STATUS_MIN || status > RESPONSE_STATUS_MAX) {
    return `status must be an integer from ${RESPONSE_STATUS_MIN} to ${RESPONSE_STATUS_MAX}, got ${JSON.stringify(status) ?? String(status)}`;
  }
  if (!Array.isArray(headers)) return 'headers must be a list of [name, value] pairs';
  if (headers.length > RESPONSE_HEADERS_MAX) return `a response may have at most ${RESPONSE_HEADERS_MAX} header fields, got ${headers.length}`;
  let headerBytes = 0;
  for (const pair of headers) {
    if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string' || typeof pair[1] !== 'string') return 'each header must be a [name, value] pair of strings';
    const [name, value] = pair as [string, string];
    if (!HEADER_NAME.test(name)) return `header name ${quote(name)} is not an HTTP token (letters, digits and !#$%&'*+-.^_\`|~ only)`;
    if (HEADER_VALUE_BAD_CHAR.test(value)) return `header ${quote(name)} has a value with a character HTTP forbids (a control character such as CR or LF, or one past U+00FF): ${quote(value)}`;
    headerBytes += name.length + value.length;
  }
  if (headerBytes > RESPONSE_HEADER_BYTES_MAX) return `the response headers take ${headerBytes} bytes, more than the ${RESPONSE_HEADER_BYTES_MAX} allowed`;
  if (typeof body !== 'string' && !(body instanceof Uint8Array)) return 'the response body must be text or bytes';
  const bodyBytes = typeof body !== 'string' ? body.length : body.length * 3 <= RESPONSE_BODY_BYTES_MAX ? body.length : Buffer.byteLength(body);
  if (bodyBytes > RESPONSE_BODY_BYTES_MAX) return `the response body is ${bodyBytes} bytes, more than the ${RESPONSE_BODY_BYTES_MAX} allowed`;
  if (NULL_BODY_STATUSES.has(status) && body.length > 0) return `a ${status} response cannot have a body`;
  return undefined;
}

/** Header pairs to the record node:http is given: lower-case names, host-owned ones dropped, repeats joined. */
export function headerRecord(pairs: Array<[string, string]>): Record<string, string> {
  const record: Record<string, string> = Object.create(null);
  for (const [rawName, value] of pairs) {
    const name = rawName.toLowerCase();
    if (HOST_OWNED_HEADERS.has(name)) continue;
    record[name] = name in record ? `${record[name]}, ${value}` : value;
  }
  return { ...record };
}

/** The answer a request gets when the guest's own answer cannot be sent. */
export function badResponse(requestId: number, problem: string): Effect[] {
  return [
    { type: 'respond', requestId, status: 500, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ error: BAD_RESPONSE_CODE, message: `the guest's response cannot be sent: ${problem}` }) },
    { type: 'console', level: 'error', text: `[lockstep] ${BAD_RESPONSE_CODE}: request #${requestId}: ${problem}` },
  ];
}

/**
 * Decodes and checks one event's effects: the prelude's JSON tuples plus the blobs (bodies, file data)
 * it keeps out of the JSON. Never throws for anything a guest can produce: a bad response becomes a
 * 500 `guest_bad_response`, any other malformed effect a console line `guest_bad_effect` (dropped).
 */
export function decodeEffects(json: string, blobs: unknown[], context: DecodeContext): Effect[] {
  let tuples: unknown;
  try {
    tuples = JSON.parse(json);
  } catch {
    return [badEffect('the effects of this event are not valid JSON')];
  }
  if (!Array.isArray(tuples)) return [badEffect('the effects of this event are not a list')];
  const effects: Effect[] = [];
  for (const tuple of tuples) {
    if (!Array.isArray(tuple)) {
      effects.push(badEffect(`an effect is not a tuple: ${preview(tuple)}`));
      continue;
    }
    effects.push(...decodeOne(tuple, blobs, context));
  }
  return effects;
}

function decodeOne(t: unknown[], blobs: unknown[], context: DecodeContext): Effect[] {
  const kind = t[0];
  switch (kind) {
    case 'respond': {
      const requestId = t[1];
      if (!isId(requestId) || requestId > context.requestIdMax) return [badEffect(`a response for request ${preview(requestId)}, which has not arrived`)];
      const body = blobAt(blobs, t[4]);
      const problem = responseProblem(t[2], t[3], body);
      if (problem) return badResponse(requestId, problem);
      return [{ type: 'respond', requestId, status: t[2] as number, headers: headerRecord(t[3] as Array<[string, string]>), body: body as ResponseBody }];
    }
    case 'console': {
      const [, level, text] = t;
      if (typeof level !== 'string' || !CONSOLE_LEVELS.has(level) || typeof text !== 'string' || text.length > CONSOLE_TEXT_CHARS_MAX) return [badEffect(`a console line that is not a level and a text of at most ${CONSOLE_TEXT_CHARS_MAX} characters`)];
      return [{ type: 'console', level: level as ConsoleLevel, text }];
    }
    case 'timer': {
      const [, timerId, dueMs, intervalMs] = t;
      if (!isId(timerId) || typeof dueMs !== 'number' || !Number.isFinite(dueMs) || typeof intervalMs !== 'number' || !Number.isInteger(intervalMs) || intervalMs < 0 || intervalMs > TIMER_INTERVAL_MS_MAX) {
        return [badEffect(`a timer that is not (id, finite due time, interval of 0..${TIMER_INTERVAL_MS_MAX} ms): ${preview(t)}`)];
      }
      return [{ type: 'timer', timerId, dueMs, intervalMs }];
    }
    case 'clear':
      if (!isId(t[1])) return [badEffect(`a timer clear without a timer id: ${preview(t)}`)];
      return [{ type: 'clear', timerId: t[1] }];
    case 'read': {
      const [, opId, path] = t;
      const problem = pathProblem(path);
      if (!isId(opId) || problem) return [badEffect(`a file read that is not (op id, path): ${problem ?? preview(t)}`)];
      return [{ type: 'read', opId, path: path as string }];
    }
    case 'write': {
      const [, opId, path] = t;
      const data = blobAt(blobs, t[3]);
      const problem = pathProblem(path);
      if (!isId(opId) || problem || typeof data !== 'string') return [badEffect(`a file write that is not (op id, path, text): ${problem ?? preview(t)}`)];
      return [{ type: 'write', opId, path: path as string, data }];
    }
    default:
      return [badEffect(`an effect of unknown kind: ${preview(t)}`)];
  }
}

/** Guest paths reach the host already normalized by the prelude: relative, no '.', '..', empty part or NUL. */
export function pathProblem(path: unknown): string | undefined {
  if (typeof path !== 'string' || path.length === 0 || path.length > PATH_CHARS_MAX) return `a path must be a string of 1..${PATH_CHARS_MAX} characters`;
  if (path.includes('\0')) return 'a path must not contain NUL';
  for (const part of path.split('/')) if (part === '' || part === '.' || part === '..') return `the path ${quote(path)} is not normalized (it must stay inside the data directory)`;
  return undefined;
}

function blobAt(blobs: unknown[], index: unknown): unknown {
  return typeof index === 'number' && Number.isInteger(index) && index >= 0 && index < blobs.length ? blobs[index] : undefined;
}

function isId(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value > 0 && value <= ID_MAX;
}

function badEffect(problem: string): Effect {
  return { type: 'console', level: 'error', text: `[lockstep] ${BAD_EFFECT_CODE}: the guest produced ${problem}; it was dropped` };
}

function quote(text: string): string {
  const shown = text.length > 80 ? `${text.slice(0, 80)}...` : text;
  return JSON.stringify(shown);
}

function preview(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 200 ? `${text.slice(0, 200)}...` : text;
}
