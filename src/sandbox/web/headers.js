// Headers of the Fetch standard: case-insensitive names, values normalized and checked as HTTP
// allows (the same rules the host applies at the sandbox boundary), iteration sorted by name with
// values combined, except Set-Cookie, whose values stay apart.

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const BAD_VALUE = /[\0\r\n]|[^\t\x20-\xff]/;

export function checkName(name) {
  const text = String(name);
  if (!TOKEN.test(text)) throw new TypeError(`Headers: "${text}" is not a valid header name`);
  return text.toLowerCase();
}

export function normalizeValue(value, name) {
  const text = String(value).replace(/^[\t\n\r ]+|[\t\n\r ]+$/g, '');
  if (BAD_VALUE.test(text)) throw new TypeError(`Headers: the value of "${name}" has a character HTTP forbids (NUL, CR, LF, or one past U+00FF)`);
  return text;
}

export class Headers {
  /** lower-case name -> values, in insertion order of names */
  #map = new Map();
  #guard = 'none';

  constructor(init = undefined) {
    if (init === undefined || init === null) return;
    if (init instanceof Headers) {
      for (const [name, values] of init.#map) this.#map.set(name, values.slice());
    } else if (typeof init === 'object' && typeof init[Symbol.iterator] === 'function') {
      for (const pair of init) {
        const list = Array.from(pair);
        if (list.length !== 2) throw new TypeError('Headers: each header must be a [name, value] pair');
        this.append(list[0], list[1]);
      }
    } else if (typeof init === 'object') {
      const names = Object.keys(init);
      for (let i = 0; i < names.length; i++) this.append(names[i], init[names[i]]);
    } else throw new TypeError('Headers: init must be a Headers, a list of pairs, or a record');
  }

  static _freeze(headers) {
    headers.#guard = 'immutable';
    return headers;
  }

  /** Pairs in insertion order of names, Set-Cookie values apart: what the host sends. */
  static _pairs(headers) {
    // Indexed loops and forEach, not for..of with destructuring: several times cheaper in QuickJS.
    const pairs = [];
    headers.#map.forEach((values, name) => {
      if (name === 'set-cookie') for (let i = 0; i < values.length; i++) pairs[pairs.length] = [name, values[i]];
      else pairs[pairs.length] = [name, values.length === 1 ? values[0] : values.join(', ')];
    });
    return pairs;
  }

  /** The host's request headers, trusted (already valid HTTP). */
  static _fromPairs(pairs) {
    const headers = new Headers();
    const map = headers.#map;
    for (let i = 0; i < pairs.length; i++) {
      const name = pairs[i][0];
      const values = map.get(name);
      if (values) values.push(pairs[i][1]);
      else map.set(name, [pairs[i][1]]);
    }
    return headers;
  }

  #writable() {
    if (this.#guard === 'immutable') throw new TypeError('Headers: these headers are immutable');
  }

  append(name, value) {
    this.#writable();
    const key = checkName(name);
    const text = normalizeValue(value, key);
    const values = this.#map.get(key);
    if (values) values.push(text);
    else this.#map.set(key, [text]);
  }

  set(name, value) {
    this.#writable();
    const key = checkName(name);
    this.#map.set(key, [normalizeValue(value, key)]);
  }

  delete(name) {
    this.#writable();
    this.#map.delete(checkName(name));
  }

  get(name) {
    const values = this.#map.get(checkName(name));
    return values ? values.join(', ') : null;
  }

  getSetCookie() {
    const values = this.#map.get('set-cookie');
    return values ? values.slice() : [];
  }

  has(name) {
    return this.#map.has(checkName(name));
  }

  *entries() {
    const names = Array.from(this.#map.keys()).sort();
    for (const name of names) {
      const values = this.#map.get(name);
      if (!values) continue;
      if (name === 'set-cookie') for (const v of values) yield [name, v];
      else yield [name, values.join(', ')];
    }
  }

  *keys() {
    for (const [name] of this.entries()) yield name;
  }

  *values() {
    for (const [, value] of this.entries()) yield value;
  }

  forEach(callback, thisArg = undefined) {
    for (const [name, value] of this.entries()) callback.call(thisArg, value, name, this);
  }

  [Symbol.iterator]() {
    return this.entries();
  }

  get [Symbol.toStringTag]() {
    return 'Headers';
  }
}
