// Which load each checkable guest gets, and its state read back from the final primary for the
// invariant checkers (counter.js: the count; bank.js: the total, the balances, the transfers).
import { basename } from 'node:path';
import { makeWorkload, type Workload } from '../client/workloads.js';
import type { FinalState } from './checkers.js';

export type GuestKind = 'counter' | 'bank' | 'other';

export function guestKind(program: string): GuestKind {
  const name = basename(program, '.js');
  return name === 'counter' || name === 'bank' ? name : 'other';
}

export function workloadFor(program: string): Workload {
  const name = basename(program, '.js');
  return makeWorkload(name === 'bank' || name === 'kv' || name === 'echo' ? name : 'counter');
}

async function getJson(url: string): Promise<any> {
  const response = await fetch(url, { signal: AbortSignal.timeout(5000) });
  if (response.status !== 200) throw new Error(`GET ${url}: ${response.status} ${await response.text()}`);
  return response.json();
}

/** bank.js: the total before any transfer (read once the first pair is up). */
export async function openingState(program: string, url: string): Promise<number | undefined> {
  return guestKind(program) === 'bank' ? Number((await getJson(`${url}/total`)).total) : undefined;
}

export async function finalState(program: string, url: string, openingTotal: number | undefined): Promise<FinalState> {
  switch (guestKind(program)) {
    case 'counter':
      return { program: 'counter', count: Number((await getJson(`${url}/count`)).count) };
    case 'bank': {
      const { accounts, transfers } = await getJson(`${url}/accounts`);
      const { total } = await getJson(`${url}/total`);
      return { program: 'bank', openingTotal: openingTotal ?? Number(total), total: Number(total), accounts, transfers: Number(transfers) };
    }
    case 'other':
      return { program: 'other' };
  }
}
