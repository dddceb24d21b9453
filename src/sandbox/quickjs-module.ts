// Loads the QuickJS WebAssembly module with its clock and time zone owned by Lockstep, the way a
// hypervisor owns the hardware: every clock read inside the guest (Date.now, new Date, Date(), the
// PRNG seed at context creation) reaches `clock()`, and local time is always UTC.
import { newQuickJSWASMModuleFromVariant, newVariant, type QuickJSSyncVariant, type QuickJSWASMModule } from 'quickjs-emscripten-core';
import releaseSyncVariant from '@jitl/quickjs-wasmfile-release-sync';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { assert } from '../assert.js';

type ImportFn = (...args: any[]) => any;

/** Identifies the QuickJS build: part of the log header, since another build may behave differently. */
export const QUICKJS_RUNTIME_ID = 'quickjs-wasmfile-release-sync@0.32.0';

/**
 * The build's initial linear memory (emscripten's INITIAL_MEMORY, 16 MiB). The memory limit counts
 * growth from here, not from the instance's own initial size: a guest restored from a checkpoint
 * starts with a bigger memory and must hit its limit at exactly the same point as the original.
 */
export const HEAP_BASE_BYTES = 16 * 1024 * 1024;
const WASM_PAGE_BYTES = 65536;
/** The build's maximum (emscripten's MAXIMUM_MEMORY, 2 GiB) in pages. */
const WASM_PAGES_MAX = 32768;

let compiled: Promise<WebAssembly.Module> | undefined;

/** Compiling the wasm once per process makes each later instance cheap (~4 ms instead of ~25 ms). */
function compiledModule(): Promise<WebAssembly.Module> {
  if (!compiled) {
    const require = createRequire(import.meta.url);
    const wasmPath = require.resolve('@jitl/quickjs-wasmfile-release-sync/wasm');
    compiled = WebAssembly.compile(readFileSync(wasmPath));
  }
  return compiled;
}

/** The emscripten import names are minified, so find each by what it does, and fail loudly if the build changed. */
function findImport(imports: Record<string, ImportFn>, what: string, test: (source: string, fn: ImportFn) => boolean): string {
  const names = Object.keys(imports).filter((name) => typeof imports[name] === 'function' && test(String(imports[name]), imports[name]));
  assert(names.length === 1, `expected exactly one QuickJS wasm import that ${what}, found ${names.length}: the QuickJS build changed`);
  return names[0];
}

/** Writes a NUL-terminated ASCII string into wasm memory. */
function writeAscii(memory: WebAssembly.Memory, pointer: number, text: string): void {
  const bytes = new Uint8Array(memory.buffer, pointer, text.length + 1);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  bytes[text.length] = 0;
}

const DAYS_BEFORE_MONTH = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];

/** emscripten's _localtime_js, but always in UTC whatever the host's TZ. */
function utcLocaltime(memory: WebAssembly.Memory, seconds: bigint | number, tmPointer: number): void {
  const date = new Date(Number(seconds) * 1000);
  const tm = new Int32Array(memory.buffer, tmPointer, 11);
  const year = date.getUTCFullYear();
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  tm[0] = date.getUTCSeconds();
  tm[1] = date.getUTCMinutes();
  tm[2] = date.getUTCHours();
  tm[3] = date.getUTCDate();
  tm[4] = date.getUTCMonth();
  tm[5] = year - 1900;
  tm[6] = date.getUTCDay();
  tm[7] = DAYS_BEFORE_MONTH[date.getUTCMonth()] + (leap && date.getUTCMonth() > 1 ? 1 : 0) + date.getUTCDate() - 1;
  tm[8] = 0; // tm_isdst
  tm[9] = 0; // tm_gmtoff (long, 32-bit on wasm32)
}

export interface OwnedQuickJS {
  module: QuickJSWASMModule;
  /** The instance's linear memory: a checkpoint copies it, a restore fills it. */
  memory: WebAssembly.Memory;
}

/** A linear memory of exactly `bytes` (whole pages), for an instance that will receive a checkpoint's heap. */
export function newLinearMemory(bytes: number): WebAssembly.Memory {
  assert(bytes % WASM_PAGE_BYTES === 0 && bytes >= HEAP_BASE_BYTES, `a linear memory is whole pages of at least ${HEAP_BASE_BYTES} bytes, not ${bytes}`);
  return new WebAssembly.Memory({ initial: bytes / WASM_PAGE_BYTES, maximum: WASM_PAGES_MAX });
}

/**
 * Returns a fresh QuickJS module whose clock is `clock()` (ms since the epoch, may be fractional).
 * One module per guest: the hooks are bound to this instance only.
 *
 * `heapGrowthBytesMax()` bounds how far the wasm heap may grow past its initial size. This build's
 * QuickJS cannot count its allocations (it reports "malloc_usable_size unavailable", so
 * JS_SetMemoryLimit sees almost nothing), so the memory limit is enforced here: a refused growth
 * makes malloc fail and QuickJS throw "out of memory". Growth requests depend only on the sequence
 * of allocations, so the refusal comes at the same point on record and replay.
 */
export async function loadOwnedQuickJS(
  clock: () => number,
  heapGrowthBytesMax: () => number = () => Infinity,
  /** A bigger memory to start with (a restore); default: the build's own of HEAP_BASE_BYTES. */
  wasmMemory?: WebAssembly.Memory,
): Promise<OwnedQuickJS> {
  const wasmModule = await compiledModule();
  let linearMemory: WebAssembly.Memory | undefined;
  const variant = newVariant(releaseSyncVariant as unknown as QuickJSSyncVariant, {
    emscriptenModule: {
      ...(wasmMemory ? { wasmMemory } : {}),
      instantiateWasm(imports: Record<string, Record<string, any>>, done: (instance: WebAssembly.Instance, module: WebAssembly.Module) => void) {
        const env = imports.a;
        assert(env && typeof env === 'object', 'QuickJS wasm imports have an unexpected shape: the build changed');
        const memory = Object.values(env).find((value) => value instanceof WebAssembly.Memory) as WebAssembly.Memory | undefined;
        assert(memory, 'QuickJS wasm imports carry no memory: the build changed');
        const dateNow = findImport(env, 'reads Date.now()', (source, fn) => fn.length === 0 && /^\(\)=>Date\.now\(\)$/.test(source.replace(/\s/g, '')));
        const localtime = findImport(env, 'computes local time', (source) => source.includes('getTimezoneOffset') && source.includes('getSeconds'));
        const tzset = findImport(env, 'sets the time zone', (source) => source.includes('getTimezoneOffset') && source.includes('UTC') && !source.includes('getSeconds'));
        // emscripten hands C code an environment that includes the host's script path (process.argv[1])
        // and language: copied into the heap, it would make heap layouts differ between processes.
        const environGet = findImport(env, 'copies the environment', (source, fn) => fn.length === 2 && /for\((var )?\w+ of \w+\(\)\)/.test(source) && source.includes('Infinity'));
        const environSizes = findImport(env, 'sizes the environment', (source, fn) => fn.length === 2 && /for\((var )?\w+ of \w+\)/.test(source) && source.includes('.length') && !source.includes('Infinity'));
        const resizeHeap = findImport(env, 'grows the heap', (source) => source.includes('2147483648') && source.includes('.grow('));
        const growHeap = env[resizeHeap] as (requestedBytes: number) => number | boolean;
        assert(wasmMemory ? memory === wasmMemory : memory.buffer.byteLength === HEAP_BASE_BYTES, 'the QuickJS build no longer starts with a 16 MiB memory, or ignored the one given: update HEAP_BASE_BYTES');
        linearMemory = memory;
        const owned = {
          ...env,
          [resizeHeap]: (requestedBytes: number) => ((requestedBytes >>> 0) - HEAP_BASE_BYTES > heapGrowthBytesMax() ? 0 : growHeap(requestedBytes)),
          [dateNow]: () => clock(),
          // An empty environment: no variables, no bytes.
          [environSizes]: (countPointer: number, bytesPointer: number) => {
            new Uint32Array(memory.buffer, countPointer, 1)[0] = 0;
            new Uint32Array(memory.buffer, bytesPointer, 1)[0] = 0;
            return 0;
          },
          [environGet]: () => 0,
          [localtime]: (seconds: bigint | number, tmPointer: number) => utcLocaltime(memory, seconds, tmPointer),
          [tzset]: (timezonePointer: number, daylightPointer: number, stdNamePointer: number, dstNamePointer: number) => {
            new Int32Array(memory.buffer, timezonePointer, 1)[0] = 0;
            new Int32Array(memory.buffer, daylightPointer, 1)[0] = 0;
            writeAscii(memory, stdNamePointer, 'UTC');
            writeAscii(memory, dstNamePointer, 'UTC');
          },
        };
        WebAssembly.instantiate(wasmModule, { ...imports, a: owned }).then((instance) => done(instance, wasmModule));
        return {};
      },
    } as any,
  });
  const module = await newQuickJSWASMModuleFromVariant(variant);
  assert(linearMemory, 'the QuickJS module was created without instantiating its wasm');
  return { module, memory: linearMemory };
}
