// A request as the service port hands it to a node: what becomes a logged `request` entry.
import type { HeaderPairs } from '../log/entries.js';

export interface IncomingRequest {
  method: string;
  path: string;
  headers: HeaderPairs;
  /** The body's bytes as received. */
  body: Uint8Array;
}

/** What a request holds in memory, roughly: method, path, headers and body (metrics, admission bounds). */
export function requestBytes(request: IncomingRequest): number {
  let bytes = request.method.length + request.path.length + request.body.length;
  for (const [name, value] of request.headers) bytes += name.length + value.length;
  return bytes;
}
