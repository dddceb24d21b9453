// env.storage: a key-value store modelled on Durable Objects' storage (get, put, delete, list,
// deleteAll). The whole store lives in the guest's memory, so it is replicated by the log like any
// guest state; the prelude persists it to <dir>/data/.lockstep/storage.json after each event that
// changed it (one whole-file write, coalescing every change of the event) and holds back every
// answer given after a change until that write is on disk. Values are encoded once at put (a tagged
// JSON of the structured-clone types) and decoded at get, so a get always returns a fresh copy.

/** Durable Objects' limits: 2 KiB keys, 128 KiB values (as stored: UTF-8 bytes of the encoded value), 128 keys per call. */
export const STORAGE_KEY_CHARS_MAX = 2048;
export const STORAGE_VALUE_BYTES_MAX = 128 * 1024;
export const STORAGE_KEYS_PER_CALL_MAX = 128;
/**
 * The whole store file, in UTF-8 bytes, within the host's 8 MiB file limit (FILE_BYTES_MAX): the
 * limit is on what reaches the disk and, when the file is read back, the log.
 */
export const STORAGE_BYTES_MAX = 8 * 1024 * 1024;
/** The file's framing around its entries: {"format":1,"entries":[...]} */
const FILE_FRAMING_BYTES = 64;

/** UTF-8 bytes of a string (a lone surrogate counts as the 3 bytes of U+FFFD it becomes). */
export function utf8Bytes(text) {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) continue;
    if (unit < 0x800) bytes += 1;
    else if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 2; // a pair: 4 bytes for 2 units
      i++;
    } else bytes += 2;
  }
  return bytes;
}

/** What one entry adds to the file: [<key as JSON>,<value text>] and a comma. */
function entryBytes(key, text) {
  return utf8Bytes(JSON.stringify(key)) + utf8Bytes(text) + 3;
}

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
  /** The store file's size in UTF-8 bytes, less its framing. */
  #bytes = 0;
  #loaded = null;
  #hooks;
  /** The store as it is on disk (loaded, or covered by the last write that succeeded): what a failed write rolls back to. */
  #durable = { map: new Map(), bytes: 0 };

  /** hooks: load() -> Promise<text | null>, changed() -> change number, durable(n) -> Promise */
  constructor(hooks) {
    this.#hooks = hooks;
  }

  static _serialize(storage) {
    const parts = [];
    for (const [key, text] of storage.#map) parts.push('[' + JSON.stringify(key) + ',' + text + ']');
    return '{"format":1,"entries":[' + parts.join(',') + ']}';
  }

  /** The store now, as a write about to start will put it on disk (the values' text is shared, not copied). */
  static _capture(storage) {
    return { map: new Map(storage.#map), bytes: storage.#bytes };
  }

  /** A write of `captured` is on disk: a later failure rolls back to it. */
  static _settle(storage, captured) {
    storage.#durable = captured;
  }

  /** A write failed: every change since the last durable write is undone (later ones were made on top of it). */
  static _rollBack(storage) {
    storage.#map = new Map(storage.#durable.map);
    storage.#bytes = storage.#durable.bytes;
  }

  #ready() {
    if (!this.#loaded) {
      this.#loaded = this.#hooks.load().then((text) => {
        if (text === null) return;
        const stored = JSON.parse(text);
        if (!stored || stored.format !== 1 || !Array.isArray(stored.entries)) throw new Error('env.storage: the storage file is not in a format this Lockstep knows');
        for (const [key, data] of stored.entries) this.#set(key, JSON.stringify(data));
        this.#durable = Storage._capture(this);
      });
    }
    return this.#loaded;
  }

  #set(key, text) {
    const old = this.#map.get(key);
    if (old !== undefined) this.#bytes -= entryBytes(key, old);
    this.#map.set(key, text);
    this.#bytes += entryBytes(key, text);
  }

  #remove(key) {
    const old = this.#map.get(key);
    if (old === undefined) return false;
    this.#bytes -= entryBytes(key, old);
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
      const bytes = text.length > STORAGE_VALUE_BYTES_MAX ? text.length : utf8Bytes(text); // past the limit either way
      if (bytes > STORAGE_VALUE_BYTES_MAX) throw new RangeError(`env.storage: the value of "${key.slice(0, 80)}" takes ${bytes} bytes of UTF-8, more than the ${STORAGE_VALUE_BYTES_MAX} allowed`);
      return [key, text];
    });
    await this.#ready();
    let bytes = this.#bytes + FILE_FRAMING_BYTES;
    for (const [key, text] of encoded) bytes += entryBytes(key, text) - (this.#map.has(key) ? entryBytes(key, this.#map.get(key)) : 0);
    if (bytes > STORAGE_BYTES_MAX) throw new RangeError(`env.storage: the store would take ${bytes} bytes of UTF-8, more than the ${STORAGE_BYTES_MAX} allowed`);
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
    this.#bytes = 0;
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
