// The body shared by Request and Response: held as a string or as bytes (copied at construction),
// read once with text(), json(), arrayBuffer() or bytes(). Streams, Blob and FormData are not
// offered: a body here is always whole, in memory, and bounded by the host's limits.
import { utf8Decode, utf8Encode } from './encoding.js';

export class Body {
  /** string | Uint8Array | null */
  #source;
  #used = false;

  constructor(source) {
    this.#source = source;
  }

  static _source(body) {
    return body.#source;
  }

  get bodyUsed() {
    return this.#used;
  }

  #take(kind) {
    if (this.#used) return Promise.reject(new TypeError(`${kind}: the body has already been read`));
    this.#used = true;
    return Promise.resolve(this.#source);
  }

  text() {
    return this.#take('text()').then((s) => (s === null ? '' : typeof s === 'string' ? s : utf8Decode(s)));
  }

  json() {
    return this.text().then((t) => JSON.parse(t));
  }

  bytes() {
    return this.#take('bytes()').then((s) => (s === null ? new Uint8Array(0) : typeof s === 'string' ? utf8Encode(s) : s.slice()));
  }

  arrayBuffer() {
    return this.bytes().then((b) => b.buffer);
  }

  formData() {
    return Promise.reject(new TypeError('formData() is not available in Lockstep guests; parse the text with URLSearchParams'));
  }

  blob() {
    return Promise.reject(new TypeError('blob() is not available in Lockstep guests; use arrayBuffer() or bytes()'));
  }
}

/** BodyInit to [source, default content type]. Buffers are copied, as the Fetch standard does. */
export function extractBody(init, urls) {
  if (init === undefined || init === null) return [null, null];
  if (typeof init === 'string') return [init, 'text/plain;charset=UTF-8'];
  if (init instanceof ArrayBuffer) return [new Uint8Array(init.slice(0)), null];
  if (ArrayBuffer.isView(init)) return [new Uint8Array(init.buffer.slice(init.byteOffset, init.byteOffset + init.byteLength)), null];
  if (urls.isURLSearchParams(init)) return [init.toString(), 'application/x-www-form-urlencoded;charset=UTF-8'];
  if (init instanceof Body) {
    throw new TypeError('a Request or Response is not a body; read it first (await r.text())');
  }
  if (typeof init === 'object' && (typeof init.getReader === 'function' || typeof init.stream === 'function')) {
    throw new TypeError('streams and Blobs are not available as bodies in Lockstep guests; pass a string or bytes');
  }
  return [String(init), 'text/plain;charset=UTF-8'];
}
