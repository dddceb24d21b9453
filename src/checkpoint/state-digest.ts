// The state digest: one hash of everything the guest can observe (its heap and the host-side state).
// Two nodes at the same entry have the same digest; a digest that differs at the same entry means
// their states diverged, which an online check can see long before an output differs.
import { createHash, webcrypto } from 'node:crypto';
import type { HostState } from '../engine/executor.js';
import { sparseHashSync } from '../sandbox/sparse-heap.js';

/** The host state's canonical bytes: HostState is built field by field in a fixed order, arrays keep map order. */
export function hostStateBytes(host: HostState): Uint8Array {
  return Buffer.from(JSON.stringify(host), 'utf8');
}

/**
 * The heap as a checkpoint holds it (its sparse image: sparse-heap.ts) or as it is live (the whole
 * linear memory, hashed in place between events). Both give the same digest for the same memory.
 */
export type HeapContents = { sparse: Uint8Array; memoryBytes: number } | { live: Uint8Array };

/** The same digest as stateDigest(), computed on the calling thread (~1.5 ms for a 2 MiB guest): for a digest that must be logged at once. */
export function stateDigestSync(host: HostState, heap: HeapContents): string {
  const heapHash = 'live' in heap ? sparseHashSync(heap.live) : createHash('sha256').update(heap.sparse).digest();
  return combine(host, memoryBytesOf(heap), heapHash);
}

/**
 * sha256(sha256(host state) || memory size || sha256(the heap's sparse image)), hex. An image's hash
 * runs on libuv's thread pool (webcrypto), so it does not block the event loop; a live heap is hashed
 * at once, since guest code could change it meanwhile.
 */
export async function stateDigest(host: HostState, heap: HeapContents): Promise<string> {
  if ('live' in heap) return stateDigestSync(host, heap);
  const heapHash = new Uint8Array(await webcrypto.subtle.digest('SHA-256', heap.sparse));
  return combine(host, heap.memoryBytes, heapHash);
}

function memoryBytesOf(heap: HeapContents): number {
  return 'live' in heap ? heap.live.length : heap.memoryBytes;
}

function combine(host: HostState, memoryBytes: number, heapHash: Uint8Array): string {
  const hostHash = createHash('sha256').update(hostStateBytes(host)).digest();
  const size = Buffer.alloc(8);
  size.writeBigUInt64BE(BigInt(memoryBytes));
  return createHash('sha256').update(hostHash).update(size).update(heapHash).digest('hex');
}
