// What the load generator sends to each guest program (one fixed request, repeated).
import { readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { GUEST_PROGRAMS_DIR } from './processes.js';

export interface BenchRequest {
  method: string;
  path: string;
  /** Sent as is (UTF-8); empty for none. */
  body: string;
}

export const TRIVIAL_PROGRAM = 'bench-trivial.js';
export const BODY_BYTES = 4096;

const REQUESTS: Record<string, BenchRequest> = {
  'bench-body.js': { method: 'POST', path: '/echo-length', body: 'b'.repeat(BODY_BYTES) },
  'counter.js': { method: 'POST', path: '/increment', body: '' },
};
const DEFAULT_REQUEST: BenchRequest = { method: 'GET', path: '/', body: '' };

export function requestFor(program: string): BenchRequest {
  return REQUESTS[basename(program)] ?? DEFAULT_REQUEST;
}

export function describeRequest(r: BenchRequest): string {
  return `${r.method} ${r.path}${r.body ? ` (${Buffer.byteLength(r.body)} B body)` : ''}`;
}

/** Every guest program in guest-programs/, trivial first, then the other bench guests, then the rest. */
export function guestPrograms(): string[] {
  const names = readdirSync(GUEST_PROGRAMS_DIR).filter((n) => n.endsWith('.js'));
  const rank = (n: string) => (n === TRIVIAL_PROGRAM ? 0 : n.startsWith('bench-') ? 1 : 2);
  names.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  return names.map((n) => join(GUEST_PROGRAMS_DIR, n));
}
