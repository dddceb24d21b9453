// The state digest: one hash of everything the guest can observe (its heap and the host-side state).
// Two nodes at the same entry have the same digest; a digest that differs at the same entry means
// their states diverged, which an online check can see long before an output differs.
import { createHash, webcrypto } from 'node:crypto';
import type { HostState } from '../engine/executor.js';
import { nonZeroLength } from '../sandbox/guest.js';

/** The host state's canonical bytes: HostState is built field by field in a fixed order, arrays keep map order. */
export function hostStateBytes(host: HostState): Uint8Array {
  return Buffer.from(JSON.stringify(host), 'utf8');
}

/**
 * The heap is a linear memory of `memoryBytes`, given whole or as its prefix up to the last non-zero
 * byte (a checkpoint's HeapImage): both give the same digest, since the rest is zeros.
 */
export interface HeapContents {
  bytes: Uint8Array;
  memoryBytes: number;
}

/** The same digest as stateDigest(), computed on the calling thread (~4 ms per 5 MiB of used heap here): for a digest that must be logged at once. */
export function stateDigestSync(host: HostState, heap: HeapContents): string {
  const heapHash = createHash('sha256').update(heap.bytes.subarray(0, nonZeroLength(heap.bytes))).digest();
  return combine(host, heap.memoryBytes, heapHash);
}

/**
 * sha256(sha256(host state) || memory size || sha256(heap up to its last non-zero byte)), hex. The
 * heap's hash runs on libuv's thread pool (webcrypto), so it does not block the event loop; the heap
 * must not change until it resolves (pass a copy, or call it where no guest code runs until then).
 */
export async function stateDigest(host: HostState, heap: HeapContents): Promise<string> {
  const heapHash = new Uint8Array(await webcrypto.subtle.digest('SHA-256', heap.bytes.subarray(0, nonZeroLength(heap.bytes))));
  return combine(host, heap.memoryBytes, heapHash);
}

function combine(host: HostState, memoryBytes: number, heapHash: Uint8Array): string {
  const hostHash = createHash('sha256').update(hostStateBytes(host)).digest();
  const size = Buffer.alloc(8);
  size.writeBigUInt64BE(BigInt(memoryBytes));
  return createHash('sha256').update(hostHash).update(size).update(heapHash).digest('hex');
}
