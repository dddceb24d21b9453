// A guest's linear memory without its all-zero pages: what a checkpoint copies, hashes and stores.
// Most of a QuickJS memory is pages the guest never touched (the stack sits at the top of it), so a
// dense copy up to the last non-zero byte was ~16 MB where the guest used ~2 MB.
// Layout: u32 page count | u32 page index x count (ascending) | the pages' bytes, in that order.
import { createHash } from 'node:crypto';

/** The WebAssembly page size: a linear memory is always a whole number of these. */
export const HEAP_PAGE_BYTES = 64 * 1024;
const ZERO_PAGE = Buffer.alloc(HEAP_PAGE_BYTES);

/** Indexes of the pages of `memory` that hold a non-zero byte (native memcmp: ~1 ms per 16 MiB). */
export function nonZeroPages(memory: Uint8Array): number[] {
  const buffer = Buffer.from(memory.buffer, memory.byteOffset, memory.length);
  const pages: number[] = [];
  for (let start = 0, index = 0; start < buffer.length; start += HEAP_PAGE_BYTES, index++) {
    const end = Math.min(buffer.length, start + HEAP_PAGE_BYTES);
    if (buffer.compare(ZERO_PAGE, 0, end - start, start, end) !== 0) pages.push(index);
  }
  return pages;
}

/**
 * The length of `memory` up to its last non-zero byte: the guest heap's high-water mark (freed memory
 * is not zeroed, so it never shrinks). Pages are compared with native memcmp, from the top down.
 */
export function nonZeroLength(memory: Uint8Array): number {
  const buffer = Buffer.from(memory.buffer, memory.byteOffset, memory.length);
  let end = buffer.length;
  while (end > 0) {
    const start = Math.max(0, end - HEAP_PAGE_BYTES);
    if (buffer.compare(ZERO_PAGE, 0, end - start, start, end) !== 0) break;
    end = start;
  }
  while (end > 0 && buffer[end - 1] === 0) end--;
  return end;
}

function directory(pages: number[]): Buffer {
  const dir = Buffer.allocUnsafe(4 + 4 * pages.length);
  dir.writeUInt32BE(pages.length, 0);
  pages.forEach((page, i) => dir.writeUInt32BE(page, 4 + 4 * i));
  return dir;
}

function pageOf(memory: Uint8Array, index: number): Uint8Array {
  return memory.subarray(index * HEAP_PAGE_BYTES, (index + 1) * HEAP_PAGE_BYTES);
}

/** One allocation: the sparse image of `memory` as it is now (a copy the guest can no longer change). */
export function sparseCopy(memory: Uint8Array): Uint8Array {
  if (memory.length % HEAP_PAGE_BYTES !== 0) throw new RangeError(`a linear memory is whole ${HEAP_PAGE_BYTES}-byte pages, not ${memory.length} bytes`);
  const pages = nonZeroPages(memory);
  const dir = directory(pages);
  const image = Buffer.allocUnsafe(dir.length + pages.length * HEAP_PAGE_BYTES);
  dir.copy(image, 0);
  pages.forEach((page, i) => image.set(pageOf(memory, page), dir.length + i * HEAP_PAGE_BYTES));
  return image;
}

/** sha256 of sparseCopy(memory), without making the copy (for hashing a live heap between events). */
export function sparseHashSync(memory: Uint8Array): Buffer {
  const pages = nonZeroPages(memory);
  const hash = createHash('sha256').update(directory(pages));
  for (const page of pages) hash.update(pageOf(memory, page));
  return hash.digest();
}

/** Why `image` is not a well-formed sparse image of a `memoryBytes` memory, or undefined if it is. */
export function sparseImageProblem(image: Uint8Array, memoryBytes: number): string | undefined {
  if (image.length < 4) return 'it is shorter than its page count';
  const view = Buffer.from(image.buffer, image.byteOffset, image.length);
  const count = view.readUInt32BE(0);
  if (image.length !== 4 + count * (4 + HEAP_PAGE_BYTES)) return `${count} pages do not fit its ${image.length} bytes`;
  const pageCount = memoryBytes / HEAP_PAGE_BYTES;
  for (let i = 0, last = -1; i < count; i++) {
    const page = view.readUInt32BE(4 + 4 * i);
    if (page <= last || page >= pageCount) return `page index ${page} is out of order or past the memory's ${pageCount} pages`;
    last = page;
  }
  return undefined;
}

/** Makes `memory` equal to the image: its pages copied in, every other byte zero. Check it first (sparseImageProblem). */
export function restoreSparse(memory: Uint8Array, image: Uint8Array): void {
  const view = Buffer.from(image.buffer, image.byteOffset, image.length);
  const count = view.readUInt32BE(0);
  const dataStart = 4 + 4 * count;
  memory.fill(0);
  for (let i = 0; i < count; i++) {
    const page = view.readUInt32BE(4 + 4 * i);
    const from = dataStart + i * HEAP_PAGE_BYTES;
    memory.set(image.subarray(from, from + HEAP_PAGE_BYTES), page * HEAP_PAGE_BYTES);
  }
}

/** Bytes of guest state the image holds (its non-zero pages). */
export function sparsePagesBytes(image: Uint8Array): number {
  return Buffer.from(image.buffer, image.byteOffset, image.length).readUInt32BE(0) * HEAP_PAGE_BYTES;
}
