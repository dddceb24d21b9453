// env.storage: a key-value store modelled on Durable Objects' storage (get, put, delete, list,
// deleteAll). The whole store lives in the guest's memory, so it is replicated by the log like any
// guest state; the prelude persists it to <dir>/data/.lockstep/storage.json after each event that
// changed it (one whole-file write, coalescing every change of the event) and holds back every
// answer given after a change until that write is on disk. Values are encoded once at put (a tagged
// JSON of the structured-clone types) and decoded at get, so a get always returns a fresh copy.

/** Durable Objects' limits: 2 KiB keys, 128 KiB values, 128 keys per call. */
export const STORAGE_KEY_CHARS_MAX = 2048;
export const STORAGE_VALUE_CHARS_MAX = 128 * 1024;
export const STORAGE_KEYS_PER_CALL_MAX = 128;
/** Under the host's 8 MiB file limit, with room for the framing. */
export const STORAGE_CHARS_MAX = 8 * 1024 * 1024 - 64 * 1024;

function cloneError(what) {
  const error = new Error(`env.storage: ${what} cannot be stored (values must be structured-clone-able, without cycles)`);
  error.name = 'DataCloneError';
  return error;
}

function typedArrayTag(value) {
  return Object.prototype.toString.call(value).slice(8, -1);
}

const TYPED_ARRAYS = {
  Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array, Float32Array, Float64Array, BigInt64Array, BigUint64Array,
};

function bytesOf(view) {
  const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
  let text = '';
  for (let i = 0; i < bytes.length; i++) text += String.fromCharCode(bytes[i]);
  return text;
}

function fromLatin1(text) {
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

/** A value to JSON-able data: arrays are always tagged, so a plain array never appears untagged. */
export function encodeValue(value, seen = new Set()) {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      return Number.isFinite(value) && !Object.is(value, -0) ? value : ['n', String(Object.is(value, -0) ? '-0' : value)];
    case 'bigint':
      return ['b', value.toString()];
    case 'undefined':
      return ['u'];
    case 'object':
      break;
    default:
      throw cloneError(`a ${typeof value}`);
  }
  if (value === null) return null;
  if (seen.has(value)) throw cloneError('a value with a cycle');
  seen.add(value);
  try {
    if (Array.isArray(value)) return ['A', value.map((v) => encodeValue(v, seen))];
    if (value instanceof Date) return ['D', value.getTime()];
    if (value instanceof RegExp) return ['R', value.source, value.flags];
    if (value instanceof Map) return ['M', [...value].map(([k, v]) => [encodeValue(k, seen), encodeValue(v, seen)])];
    if (value instanceof Set) return ['S', [...value].map((v) => encodeValue(v, seen))];
    if (value instanceof ArrayBuffer) return ['B', bytesOf(new Uint8Array(value))];
    if (ArrayBuffer.isView(value)) {
      const tag = typedArrayTag(value);
      if (!(tag in TYPED_ARRAYS)) throw cloneError(`a ${tag}`);
      return ['T', tag, bytesOf(value)];
    }
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) throw cloneError(`an instance of ${value.constructor && value.constructor.name}`);
    const entries = [];
    for (const key of Object.keys(value)) entries.push([key, encodeValue(value[key], seen)]);
    return ['O', entries];
  } finally {
    seen.delete(value);
  }
}

export function decodeValue(data) {
  if (data === null || typeof data !== 'object') return data;
  switch (data[0]) {
    case 'n':
      return data[1] === '-0' ? -0 : Number(data[1]);
    case 'b':
      return BigInt(data[1]);
    case 'u':
      return undefined;
    case 'A':
      return data[1].map(decodeValue);
    case 'D':
      return new Date(data[1]);
    case 'R':
      return new RegExp(data[1], data[2]);
    case 'M':
      return new Map(data[1].map(([k, v]) => [decodeValue(k), decodeValue(v)]));
    case 'S':
      return new Set(data[1].map(decodeValue));
    case 'B':
      return fromLatin1(data[1]).buffer;
    case 'T': {
      const bytes = fromLatin1(data[2]);
      const Type = TYPED_ARRAYS[data[1]];
      return new Type(bytes.buffer, 0, bytes.length / Type.BYTES_PER_ELEMENT);
    }
    case 'O': {
      const object = {};
      for (const [key, value] of data[1]) Object.defineProperty(object, key, { value: decodeValue(value), enumerable: true, writable: true, configurable: true });
      return object;
    }
    default:
      throw new Error(`env.storage: the stored data is corrupt (unknown tag ${JSON.stringify(data[0])})`);
  }
}

function checkKey(key) {
  if (typeof key !== 'string') throw new TypeError('env.storage: keys must be strings');
  if (key.length > STORAGE_KEY_CHARS_MAX) throw new RangeError(`env.storage: a key may have at most ${STORAGE_KEY_CHARS_MAX} characters`);
  return key;
}

function checkKeys(keys) {
  if (keys.length > STORAGE_KEYS_PER_CALL_MAX) throw new RangeError(`env.storage: at most ${STORAGE_KEYS_PER_CALL_MAX} keys per call`);
  return keys.map(checkKey);
}

export class Storage {
  /** key -> encoded JSON text of the value */
  #map = new Map();
  #chars = 0;
  #loaded = null;
  #hooks;

  /** hooks: load() -> Promise<text | null>, changed() -> change number, durable(n) -> Promise */
  constructor(hooks) {
    this.#hooks = hooks;
  }

  static _serialize(storage) {
    const parts = [];
    for (const [key, text] of storage.#map) parts.push('[' + JSON.stringify(key) + ',' + text + ']');
    return '{"format":1,"entries":[' + parts.join(',') + ']}';
  }

  #ready() {
    if (!this.#loaded) {
      this.#loaded = this.#hooks.load().then((text) => {
        if (text === null) return;
        const stored = JSON.parse(text);
        if (!stored || stored.format !== 1 || !Array.isArray(stored.entries)) throw new Error('env.storage: the storage file is not in a format this Lockstep knows');
        for (const [key, data] of stored.entries) this.#set(key, JSON.stringify(data));
      });
    }
    return this.#loaded;
  }

  #set(key, text) {
    const old = this.#map.get(key);
    if (old !== undefined) this.#chars -= key.length + old.length;
    this.#map.set(key, text);
    this.#chars += key.length + text.length;
  }

  #remove(key) {
    const old = this.#map.get(key);
    if (old === undefined) return false;
    this.#chars -= key.length + old.length;
    this.#map.delete(key);
    return true;
  }

  #read(key) {
    const text = this.#map.get(key);
    return text === undefined ? undefined : decodeValue(JSON.parse(text));
  }

  /** Ends a change: every later answer waits until it is on disk; resolves then. */
  #commit() {
    return this.#hooks.durable(this.#hooks.changed());
  }

  async get(keys) {
    const many = Array.isArray(keys);
    const list = many ? checkKeys(keys) : [checkKey(keys)];
    await this.#ready();
    if (!many) return this.#read(list[0]);
    const found = new Map();
    for (const key of list) if (this.#map.has(key)) found.set(key, this.#read(key));
    return found;
  }

  async put(keyOrEntries, value) {
    let entries;
    if (typeof keyOrEntries === 'string') entries = [[checkKey(keyOrEntries), value]];
    else if (keyOrEntries !== null && typeof keyOrEntries === 'object') entries = checkKeys(Object.keys(keyOrEntries)).map((key) => [key, keyOrEntries[key]]);
    else throw new TypeError('env.storage.put needs a key and a value, or an object of entries');
    // Encode everything before changing anything: a call is all or nothing.
    const encoded = entries.map(([key, v]) => {
      const text = JSON.stringify(encodeValue(v));
      if (text.length > STORAGE_VALUE_CHARS_MAX) throw new RangeError(`env.storage: the value of "${key.slice(0, 80)}" takes ${text.length} characters, more than the ${STORAGE_VALUE_CHARS_MAX} allowed`);
      return [key, text];
    });
    await this.#ready();
    let chars = this.#chars;
    for (const [key, text] of encoded) chars += key.length + text.length - (this.#map.has(key) ? key.length + this.#map.get(key).length : 0);
    if (chars > STORAGE_CHARS_MAX) throw new RangeError(`env.storage: the store would take ${chars} characters, more than the ${STORAGE_CHARS_MAX} allowed`);
    for (const [key, text] of encoded) this.#set(key, text);
    await this.#commit();
  }

  async delete(keys) {
    const many = Array.isArray(keys);
    const list = many ? checkKeys(keys) : [checkKey(keys)];
    await this.#ready();
    let count = 0;
    for (const key of list) if (this.#remove(key)) count++;
    if (count > 0) await this.#commit();
    return many ? count : count === 1;
  }

  async deleteAll() {
    await this.#ready();
    if (this.#map.size === 0) return;
    this.#map.clear();
    this.#chars = 0;
    await this.#commit();
  }

  /** Keys in code-unit order; prefix, start (inclusive), end (exclusive), limit, reverse. */
  async list(options = {}) {
    const { prefix, start, end, limit, reverse } = options || {};
    if (limit !== undefined && !(Number.isInteger(limit) && limit > 0)) throw new RangeError('env.storage.list: limit must be a positive integer');
    await this.#ready();
    const keys = [...this.#map.keys()].filter(
      (key) => (prefix === undefined || key.startsWith(prefix)) && (start === undefined || key >= start) && (end === undefined || key < end),
    );
    keys.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    if (reverse) keys.reverse();
    const result = new Map();
    for (const key of limit === undefined ? keys : keys.slice(0, limit)) result.set(key, this.#read(key));
    return result;
  }
}
