// TextEncoder / TextDecoder (UTF-8 only, as the Encoding standard requires of TextEncoder and as
// Workers offer), atob / btoa (forgiving base64) and the DOMException they throw. Pure functions of
// their input: nothing here reads the clock, entropy or the host.

export class DOMException extends Error {
  #name;
  constructor(message = '', name = 'Error') {
    super(String(message));
    this.#name = String(name);
  }
  get name() {
    return this.#name;
  }
}

const REPLACEMENT = 0xfffd;
const CHUNK_CODE_UNITS = 8192;

/** UTF-8 bytes of a string; lone surrogates become U+FFFD (USVString conversion). */
export function utf8Encode(input) {
  const text = String(input);
  const out = new Uint8Array(text.length * 3);
  let at = 0;
  for (let i = 0; i < text.length; i++) {
    let c = text.charCodeAt(i);
    if (c < 0x80) {
      out[at++] = c;
      continue;
    }
    if (c >= 0xd800 && c <= 0xdfff) {
      const next = i + 1 < text.length ? text.charCodeAt(i + 1) : 0;
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
        i++;
      } else c = REPLACEMENT;
    }
    if (c < 0x800) {
      out[at++] = 0xc0 | (c >> 6);
      out[at++] = 0x80 | (c & 0x3f);
    } else if (c < 0x10000) {
      out[at++] = 0xe0 | (c >> 12);
      out[at++] = 0x80 | ((c >> 6) & 0x3f);
      out[at++] = 0x80 | (c & 0x3f);
    } else {
      out[at++] = 0xf0 | (c >> 18);
      out[at++] = 0x80 | ((c >> 12) & 0x3f);
      out[at++] = 0x80 | ((c >> 6) & 0x3f);
      out[at++] = 0x80 | (c & 0x3f);
    }
  }
  return out.slice(0, at);
}

/**
 * The Encoding standard's UTF-8 decoder: each maximal invalid subpart becomes one U+FFFD (or a
 * TypeError when `fatal`). Returns [text, index of the first byte of an incomplete trailing sequence].
 */
function utf8DecodeCore(bytes, fatal, stream) {
  let text = '';
  let units = [];
  let needed = 0;
  let seen = 0;
  let codePoint = 0;
  let lower = 0x80;
  let upper = 0xbf;
  let sequenceStart = 0;
  const flush = () => {
    text += String.fromCharCode.apply(null, units);
    units = [];
  };
  const push = (cp) => {
    if (cp > 0xffff) {
      cp -= 0x10000;
      units.push(0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
    } else units.push(cp);
    if (units.length >= CHUNK_CODE_UNITS) flush();
  };
  const bad = () => {
    if (fatal) throw new TypeError('The encoded data was not valid UTF-8');
    push(REPLACEMENT);
  };
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i];
    if (needed === 0) {
      sequenceStart = i;
      if (byte < 0x80) push(byte);
      else if (byte >= 0xc2 && byte <= 0xdf) {
        needed = 1;
        codePoint = byte & 0x1f;
      } else if (byte >= 0xe0 && byte <= 0xef) {
        if (byte === 0xe0) lower = 0xa0;
        if (byte === 0xed) upper = 0x9f;
        needed = 2;
        codePoint = byte & 0xf;
      } else if (byte >= 0xf0 && byte <= 0xf4) {
        if (byte === 0xf0) lower = 0x90;
        if (byte === 0xf4) upper = 0x8f;
        needed = 3;
        codePoint = byte & 0x7;
      } else bad();
      continue;
    }
    if (byte < lower || byte > upper) {
      needed = seen = codePoint = 0;
      lower = 0x80;
      upper = 0xbf;
      bad();
      i--; // the byte starts anew
      continue;
    }
    lower = 0x80;
    upper = 0xbf;
    codePoint = (codePoint << 6) | (byte & 0x3f);
    if (++seen === needed) {
      push(codePoint);
      needed = seen = codePoint = 0;
    }
  }
  let pending = bytes.length;
  if (needed !== 0) {
    if (stream) pending = sequenceStart;
    else bad();
  }
  flush();
  return [text, pending];
}

function toBytes(input) {
  if (input === undefined) return new Uint8Array(0);
  if (input instanceof ArrayBuffer || input instanceof SharedArrayBuffer) return new Uint8Array(input);
  if (ArrayBuffer.isView(input)) return new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  throw new TypeError('TextDecoder.decode needs an ArrayBuffer or a view of one');
}

export function utf8Decode(input) {
  return utf8DecodeCore(toBytes(input), false, false)[0];
}

const UTF8_LABELS = new Set(['utf-8', 'utf8', 'unicode-1-1-utf-8', 'unicode11utf8', 'unicode20utf8', 'x-unicode20utf8']);

export class TextEncoder {
  get encoding() {
    return 'utf-8';
  }
  encode(input = '') {
    return utf8Encode(input);
  }
  encodeInto(source, destination) {
    const bytes = utf8Encode(source);
    // Write whole code points only, as the standard does.
    let written = bytes.length > destination.length ? destination.length : bytes.length;
    while (written > 0 && written < bytes.length && (bytes[written] & 0xc0) === 0x80) written--;
    destination.set(bytes.subarray(0, written));
    let read = 0;
    const text = String(source);
    for (let i = 0, b = 0; i < text.length && b < written; i++) {
      const c = text.charCodeAt(i);
      const pair = c >= 0xd800 && c <= 0xdbff && i + 1 < text.length && text.charCodeAt(i + 1) >= 0xdc00 && text.charCodeAt(i + 1) <= 0xdfff;
      b += c < 0x80 ? 1 : c < 0x800 ? 2 : pair ? 4 : 3;
      read += pair ? 2 : 1;
      if (pair) i++;
    }
    return { read, written };
  }
}

export class TextDecoder {
  #fatal;
  #ignoreBOM;
  #pending = new Uint8Array(0);
  #bomSeen = false;
  constructor(label = 'utf-8', options = {}) {
    const name = String(label).trim().toLowerCase();
    if (!UTF8_LABELS.has(name)) throw new RangeError(`TextDecoder: the encoding "${label}" is not supported (Lockstep guests decode UTF-8 only)`);
    this.#fatal = Boolean(options && options.fatal);
    this.#ignoreBOM = Boolean(options && options.ignoreBOM);
  }
  get encoding() {
    return 'utf-8';
  }
  get fatal() {
    return this.#fatal;
  }
  get ignoreBOM() {
    return this.#ignoreBOM;
  }
  decode(input, options = {}) {
    const stream = Boolean(options && options.stream);
    let bytes = toBytes(input);
    if (this.#pending.length > 0) {
      const joined = new Uint8Array(this.#pending.length + bytes.length);
      joined.set(this.#pending);
      joined.set(bytes, this.#pending.length);
      bytes = joined;
    }
    const [text, pendingAt] = utf8DecodeCore(bytes, this.#fatal, stream);
    this.#pending = bytes.slice(pendingAt);
    let out = text;
    if (!this.#ignoreBOM && !this.#bomSeen && out.length > 0) {
      if (out.charCodeAt(0) === 0xfeff) out = out.slice(1);
      this.#bomSeen = true;
    }
    if (!stream) {
      this.#bomSeen = false;
      this.#pending = new Uint8Array(0);
    }
    return out;
  }
}

const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const BASE64_VALUE = new Int16Array(128).fill(-1);
for (let i = 0; i < 64; i++) BASE64_VALUE[BASE64.charCodeAt(i)] = i;

export function bytesToBase64(bytes) {
  let out = '';
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out += BASE64[n >> 18] + BASE64[(n >> 12) & 63] + BASE64[(n >> 6) & 63] + BASE64[n & 63];
  }
  if (i + 1 === bytes.length) {
    const n = bytes[i] << 16;
    out += BASE64[n >> 18] + BASE64[(n >> 12) & 63] + '==';
  } else if (i + 2 === bytes.length) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8);
    out += BASE64[n >> 18] + BASE64[(n >> 12) & 63] + BASE64[(n >> 6) & 63] + '=';
  }
  return out;
}

export function btoa(data) {
  if (arguments.length === 0) throw new TypeError("btoa: 1 argument required, but only 0 present");
  const text = String(data);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 0xff) throw new DOMException('btoa: the string contains characters outside of the Latin1 range', 'InvalidCharacterError');
    bytes[i] = c;
  }
  return bytesToBase64(bytes);
}

/** The HTML standard's forgiving-base64 decode, to a Latin1 string of the bytes. */
export function atob(data) {
  if (arguments.length === 0) throw new TypeError("atob: 1 argument required, but only 0 present");
  let text = String(data).replace(/[\t\n\f\r ]/g, '');
  if (text.length % 4 === 0) text = text.replace(/==?$/, '');
  if (text.length % 4 === 1 || /[^A-Za-z0-9+/]/.test(text)) throw new DOMException('atob: the string to be decoded is not correctly encoded', 'InvalidCharacterError');
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (let i = 0; i < text.length; i++) {
    buffer = (buffer << 6) | BASE64_VALUE[text.charCodeAt(i)];
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += String.fromCharCode((buffer >> bits) & 0xff);
    }
  }
  return out;
}
