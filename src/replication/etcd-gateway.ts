// A small client for etcd's v3 JSON gateway (POST /v3/kv/range, /v3/kv/txn), over Node's fetch.
// Every request has a timeout and, if an endpoint does not answer (refused, timed out, 5xx), goes
// to the next one; when none answers the caller gets a SharedStorageError naming every endpoint,
// so no node waits on etcd without bound. Keys and values are base64 on the wire, int64s strings.
import { SharedStorageError } from './errors.js';
import { UsageError } from '../errors.js';

/** One request to one endpoint, at most: a member that does not answer in this long is skipped. */
export const ETCD_REQUEST_TIMEOUT_MS = 1500;
/**
 * How long a request goes on trying (rounds over every endpoint): rides out a leader election (1 s
 * election timeout by default, longer on a loaded host), during which live members hold requests
 * and may not answer within the request timeout. A claim is also bounded by --claim-timeout-ms.
 */
export const ETCD_RETRY_WINDOW_MS = 4000;
/** Pause between two rounds over the endpoints. */
const ETCD_RETRY_PAUSE_MS = 150;

export interface EtcdTiming {
  requestTimeoutMs?: number;
  retryWindowMs?: number;
}

export interface EtcdKeyValue {
  key: string;
  value: string;
  createRevision: number;
  modRevision: number;
}

/** One comparison of a transaction (etcd's Compare, on a key's create revision or value). */
export type EtcdCompare =
  | { key: string; target: 'CREATE'; result: 'EQUAL' | 'LESS' | 'GREATER'; createRevision: number }
  | { key: string; target: 'VALUE'; result: 'EQUAL' | 'LESS' | 'GREATER'; value: string };

/** One operation of a transaction branch. */
export type EtcdOp = { put: { key: string; value: string; lease?: string } } | { range: { key: string } };

export interface EtcdTxnResult {
  succeeded: boolean;
  /** The store's revision after the transaction (the put's revision when it succeeded with a put). */
  revision: number;
  /** The key-values of each range op of the branch taken, in order (put ops give []). */
  ranges: EtcdKeyValue[][];
}

/** Parses `etcd://HOST:PORT[,HOST:PORT...]` into endpoint base URLs (http://HOST:PORT). */
export function parseEtcdUrl(url: string): string[] {
  const match = /^etcd:\/\/(.+)$/.exec(url);
  if (!match) throw new UsageError(`--arbiter: '${url}' is neither 'file' nor an etcd://HOST:PORT[,HOST:PORT...] URL.`);
  return match[1].split(',').map((part) => {
    const hostPort = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(part.trim());
    if (!hostPort || Number(hostPort[2]) < 1 || Number(hostPort[2]) > 65535) {
      throw new UsageError(`--arbiter: '${part}' in '${url}' is not HOST:PORT (e.g. etcd://10.0.0.5:2379,10.0.0.6:2379).`);
    }
    return `http://${hostPort[1]}:${hostPort[2]}`;
  });
}

const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');
const unb64 = (text: string | undefined) => Buffer.from(text ?? '', 'base64').toString('utf8');

/** The first key after every key that starts with `prefix` (etcd's range_end for a prefix). */
function prefixEnd(prefix: string): string {
  const bytes = Buffer.from(prefix, 'utf8');
  let i = bytes.length - 1;
  while (i >= 0 && bytes[i] === 0xff) i--;
  if (i < 0) return Buffer.from([0]).toString('base64'); // every key
  const end = Buffer.from(bytes.subarray(0, i + 1));
  end[i] += 1;
  return end.toString('base64');
}

interface RawKeyValue {
  key?: string;
  value?: string;
  create_revision?: string;
  mod_revision?: string;
}

function keyValue(raw: RawKeyValue): EtcdKeyValue {
  return { key: unb64(raw.key), value: unb64(raw.value), createRevision: Number(raw.create_revision ?? 0), modRevision: Number(raw.mod_revision ?? 0) };
}

export class EtcdGateway {
  /** The endpoint that answered last: asked first next time, so a dead member costs one timeout, not one per request. */
  private preferred = 0;

  private readonly requestTimeoutMs: number;
  private readonly retryWindowMs: number;

  constructor(
    readonly endpoints: string[],
    timing: EtcdTiming = {},
  ) {
    this.requestTimeoutMs = timing.requestTimeoutMs ?? ETCD_REQUEST_TIMEOUT_MS;
    this.retryWindowMs = timing.retryWindowMs ?? ETCD_RETRY_WINDOW_MS;
  }

  /** The keys starting with `prefix`, highest key first, at most `limit`. */
  async rangePrefixDescending(prefix: string, limit: number): Promise<EtcdKeyValue[]> {
    const body = await this.post('/v3/kv/range', { key: b64(prefix), range_end: prefixEnd(prefix), sort_order: 'DESCEND', sort_target: 'KEY', limit });
    return ((body.kvs as RawKeyValue[] | undefined) ?? []).map(keyValue);
  }

  async get(key: string): Promise<EtcdKeyValue | undefined> {
    const body = await this.post('/v3/kv/range', { key: b64(key) });
    const kvs = (body.kvs as RawKeyValue[] | undefined) ?? [];
    return kvs.length > 0 ? keyValue(kvs[0]) : undefined;
  }

  /** One transaction: if every compare holds, the success ops, else the failure ops (atomically). */
  async txn(compare: EtcdCompare[], success: EtcdOp[], failure: EtcdOp[]): Promise<EtcdTxnResult> {
    const op = (o: EtcdOp) => ('put' in o ? { request_put: { key: b64(o.put.key), value: b64(o.put.value), ...(o.put.lease ? { lease: o.put.lease } : {}) } } : { request_range: { key: b64(o.range.key) } });
    const body = await this.post('/v3/kv/txn', {
      compare: compare.map((c) =>
        c.target === 'CREATE'
          ? { key: b64(c.key), target: 'CREATE', result: c.result, create_revision: String(c.createRevision) }
          : { key: b64(c.key), target: 'VALUE', result: c.result, value: b64(c.value) },
      ),
      success: success.map(op),
      failure: failure.map(op),
    });
    const header = body.header as { revision?: string } | undefined;
    const responses = (body.responses as Array<{ response_range?: { kvs?: RawKeyValue[] } }> | undefined) ?? [];
    return {
      succeeded: body.succeeded === true, // the gateway leaves false out
      revision: Number(header?.revision ?? 0),
      ranges: responses.map((r) => (r.response_range?.kvs ?? []).map(keyValue)),
    };
  }

  /** A new lease of `ttlS` seconds; its id (an int64, kept as a string). */
  async leaseGrant(ttlS: number): Promise<{ id: string; ttlS: number }> {
    const body = await this.post('/v3/lease/grant', { TTL: String(ttlS) });
    if (typeof body.ID !== 'string' || body.error) throw new SharedStorageError(`etcd did not grant a lease: ${String(body.error ?? 'no ID in the answer')}`);
    return { id: body.ID, ttlS: Number(body.TTL ?? ttlS) };
  }

  /** One keepalive of lease `id` (one try, no retries: the caller keeps its own deadline); the TTL it has now, 0 if it expired. */
  async leaseKeepAlive(id: string): Promise<number> {
    const body = await this.post('/v3/lease/keepalive', { ID: id }, 0);
    const result = body.result as { TTL?: string } | undefined;
    return Number(result?.TTL ?? 0);
  }

  /**
   * POSTs to each endpoint in turn until one answers, in rounds for up to the retry window (no
   * leader during an election, a member restarting). A transaction that timed out on one member may
   * still have been applied there: callers make their transactions safe to repeat (a retried claim
   * recognises its own record). Past the window: a SharedStorageError naming every endpoint.
   */
  private async post(path: string, payload: unknown, retryWindowMs = this.retryWindowMs): Promise<Record<string, unknown>> {
    const deadline = Date.now() + retryWindowMs;
    for (;;) {
      const failures: string[] = [];
      const body = await this.postRound(path, payload, failures);
      if (body) return body;
      if (Date.now() + ETCD_RETRY_PAUSE_MS >= deadline) {
        throw new SharedStorageError(
          `etcd cannot be reached at ${this.endpoints.join(', ')} (${failures.join('; ')}). ` +
            'Without the arbiter no node may serve or go live; check --arbiter and that etcd (v3, JSON gateway on its client port) is up.',
        );
      }
      await new Promise((r) => setTimeout(r, ETCD_RETRY_PAUSE_MS));
    }
  }

  /** One round over the endpoints, the one that answered last first; undefined (with `failures` filled) if none answered. */
  private async postRound(path: string, payload: unknown, failures: string[]): Promise<Record<string, unknown> | undefined> {
    for (let i = 0; i < this.endpoints.length; i++) {
      const index = (this.preferred + i) % this.endpoints.length;
      const endpoint = this.endpoints[index];
      let response: Response;
      try {
        response = await fetch(endpoint + path, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(payload),
          signal: AbortSignal.timeout(this.requestTimeoutMs),
        });
      } catch (error) {
        failures.push(`${endpoint}: ${reason(error, this.requestTimeoutMs)}`);
        continue;
      }
      let text: string;
      try {
        text = await response.text();
      } catch (error) {
        failures.push(`${endpoint}: ${reason(error, this.requestTimeoutMs)}`);
        continue;
      }
      let body: Record<string, unknown> | undefined;
      try {
        const parsed: unknown = JSON.parse(text);
        if (typeof parsed === 'object' && parsed !== null) body = parsed as Record<string, unknown>;
      } catch {
        body = undefined;
      }
      // The keepalive stream's answer is wrapped: {"result": {"header": ...}}.
      const header = body?.header ?? (body?.result as Record<string, unknown> | undefined)?.header;
      if (response.status >= 500 || body === undefined || (response.ok && typeof header !== 'object')) {
        // No leader, a member shutting down, or not an etcd v3 gateway at all: ask the next one.
        failures.push(`${endpoint}: HTTP ${response.status}${body?.error ? ` (${String(body.error)})` : body === undefined ? ', not an etcd v3 JSON answer' : ''}`);
        continue;
      }
      if (!response.ok) {
        throw new SharedStorageError(`etcd at ${endpoint} refused ${path}: HTTP ${response.status} ${String(body.error ?? body.message ?? text.slice(0, 200))}.`);
      }
      this.preferred = index;
      return body;
    }
    return undefined;
  }
}

function reason(error: unknown, timeoutMs: number): string {
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) return `no answer within ${timeoutMs} ms`;
  const cause = error instanceof Error ? (error.cause as NodeJS.ErrnoException | undefined) : undefined;
  if (cause?.code) return cause.code;
  return error instanceof Error ? error.message : String(error);
}
