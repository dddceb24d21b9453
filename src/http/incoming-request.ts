// A request as the service port hands it to a node: what becomes a logged `request` entry.
import type { HeaderPairs } from '../log/entries.js';

export interface IncomingRequest {
  method: string;
  path: string;
  headers: HeaderPairs;
  /** The body's bytes as received. */
  body: Uint8Array;
}
