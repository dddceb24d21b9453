import { newQuickJSWASMModuleFromVariant } from 'quickjs-emscripten-core';
import v from '@jitl/quickjs-wasmfile-release-sync';
const m = await newQuickJSWASMModuleFromVariant(v);
const rt = m.newRuntime(); rt.setMemoryLimit(16 << 20);
const ctx = rt.newContext();
let s = performance.now();
const r = ctx.evalCode(process.argv[2]);
console.log('eval', (performance.now() - s).toFixed(0), r.error ? ctx.dump(r.error) : ctx.dump(r.value));
