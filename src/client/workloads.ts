// Named request generators for `lockstep load`. A workload is data-only: it maps a request number
// and the seeded PRNG to {method, path, headers, body}. The guest programs that serve them live elsewhere.

import type { Rng } from './rng.js';

export interface LoadRequest {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

/** Called once per key, in key order, so the sequence of requests depends only on the seed. */
export type Workload = (i: number, rng: Rng) => LoadRequest;

export interface WorkloadOptions {
  /** echo: size of each request body. */
  bodyBytes?: number;
  /** kv: how many distinct keys the PUTs and GETs spread over. */
  kvKeys?: number;
  /** bank: account names transfers move money between. */
  accounts?: string[];
  /** generic: the one request every key sends. */
  method?: string;
  path?: string;
  body?: string;
}

export const workloadNames = ['counter', 'kv', 'bank', 'echo', 'shortener', 'generic'] as const;
export type WorkloadName = (typeof workloadNames)[number];

type Resolved = Required<Omit<WorkloadOptions, 'body'>> & Pick<WorkloadOptions, 'body'>;

export const workloadDefaults: Resolved = {
  bodyBytes: 64,
  kvKeys: 16,
  accounts: ['alice', 'bob', 'carol', 'dave'],
  method: 'GET',
  path: '/',
};

const text = { 'content-type': 'text/plain' };
const json = { 'content-type': 'application/json' };
const letters = 'abcdefghijklmnopqrstuvwxyz0123456789';

function randomText(rng: Rng, bytes: number): string {
  let s = '';
  for (let n = 0; n < bytes; n++) s += letters[rng.int(letters.length)];
  return s;
}

export function isWorkloadName(name: string): name is WorkloadName {
  return (workloadNames as readonly string[]).includes(name);
}

export function makeWorkload(name: WorkloadName, options: WorkloadOptions = {}): Workload {
  // Undefined fields keep their defaults (callers pass CLI flags straight through).
  const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
  const o = { ...workloadDefaults, ...given } as Resolved;
  switch (name) {
    case 'counter':
      return () => ({ method: 'POST', path: '/increment' });
    case 'kv':
      // Even keys write, odd keys read, so reads see values written earlier in the run.
      return (i, rng) => {
        const k = `k${rng.int(o.kvKeys)}`;
        return i % 2 === 0
          ? { method: 'PUT', path: `/kv/${k}`, headers: text, body: `v${i}-${randomText(rng, 8)}` }
          : { method: 'GET', path: `/kv/${k}` };
      };
    case 'bank':
      return (_i, rng) => {
        const from = rng.int(o.accounts.length);
        const to = (from + 1 + rng.int(o.accounts.length - 1)) % o.accounts.length;
        const body = { from: o.accounts[from], to: o.accounts[to], amount: 1 + rng.int(10) };
        return { method: 'POST', path: '/transfer', headers: json, body: JSON.stringify(body) };
      };
    case 'echo':
      return (_i, rng) => ({ method: 'POST', path: '/echo', headers: text, body: randomText(rng, o.bodyBytes) });
    case 'shortener': {
      // shortener.js: two keys of three create a link (named after the key, with a random suffix so
      // that rounds of load create new links); the third visits the link created two keys before
      // (a 302 once that create has run, else a 404).
      const slugs = new Map<number, string>();
      return (i, rng) => {
        if (i % 3 === 2) {
          const slug = slugs.get(i - 2) ?? `link-${i - 2}`;
          slugs.delete(i - 2);
          return { method: 'GET', path: `/${slug}` };
        }
        const slug = `link-${i}-${randomText(rng, 6)}`;
        if (i % 3 === 0) slugs.set(i, slug);
        return { method: 'POST', path: '/links', headers: json, body: JSON.stringify({ url: `https://example.com/${randomText(rng, 8)}?n=${i}`, slug }) };
      };
    }
    case 'generic':
      return () => ({ method: o.method, path: o.path, ...(o.body === undefined ? {} : { headers: text, body: o.body }) });
  }
}
