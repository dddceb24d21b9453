// The sparse heap image: a linear memory without its all-zero pages. A copy restores to the identical
// memory, its hash equals the hash of the live memory, and a malformed image is named, not used.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { HEAP_PAGE_BYTES, nonZeroPages, restoreSparse, sparseCopy, sparseHashSync, sparseImageProblem, sparsePagesBytes } from '../../src/sandbox/sparse-heap.js';

/** A 16-page memory with bytes set in pages 0, 3 (its last byte) and 15 (its first byte). */
function memory(): Uint8Array {
  const m = new Uint8Array(16 * HEAP_PAGE_BYTES);
  m[7] = 1;
  m[4 * HEAP_PAGE_BYTES - 1] = 2;
  m[15 * HEAP_PAGE_BYTES] = 3;
  return m;
}

describe('sparse heap images', () => {
  it('keep only the non-zero pages, and restore to the identical memory over a dirty one', () => {
    const original = memory();
    expect(nonZeroPages(original)).toEqual([0, 3, 15]);
    const image = sparseCopy(original);
    expect(image.length).toBe(4 + 3 * 4 + 3 * HEAP_PAGE_BYTES);
    expect(sparsePagesBytes(image)).toBe(3 * HEAP_PAGE_BYTES);
    const target = new Uint8Array(original.length).fill(0xee); // the setup's leftovers must be wiped
    restoreSparse(target, image);
    expect(Buffer.compare(target, original)).toBe(0);
  });

  it('hash a live memory in place exactly as its copy', () => {
    const live = memory();
    const copyHash = createHash('sha256').update(sparseCopy(live)).digest('hex');
    expect(sparseHashSync(live).toString('hex')).toBe(copyHash);
    live[9 * HEAP_PAGE_BYTES + 5] = 1; // a page that was zero
    expect(sparseHashSync(live).toString('hex')).not.toBe(copyHash);
  });

  it('is empty for an all-zero memory', () => {
    const image = sparseCopy(new Uint8Array(4 * HEAP_PAGE_BYTES));
    expect(image.length).toBe(4);
    expect(sparseImageProblem(image, 4 * HEAP_PAGE_BYTES)).toBeUndefined();
  });

  it('names what is wrong with a malformed image', () => {
    const image = Buffer.from(sparseCopy(memory()));
    const size = 16 * HEAP_PAGE_BYTES;
    expect(sparseImageProblem(image, size)).toBeUndefined();
    expect(sparseImageProblem(image.subarray(0, image.length - 1), size)).toMatch(/do not fit/);
    expect(sparseImageProblem(image.subarray(0, 2), size)).toMatch(/shorter/);
    const swapped = Buffer.from(image);
    swapped.writeUInt32BE(3, 4);
    swapped.writeUInt32BE(0, 8);
    expect(sparseImageProblem(swapped, size)).toMatch(/out of order/);
    expect(sparseImageProblem(image, 8 * HEAP_PAGE_BYTES)).toMatch(/past the memory/);
  });

  it('refuses a memory that is not whole pages', () => {
    expect(() => sparseCopy(new Uint8Array(HEAP_PAGE_BYTES + 1))).toThrow(RangeError);
  });
});
