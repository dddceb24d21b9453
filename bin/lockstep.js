#!/usr/bin/env node
// Thin launcher: the real entry point is compiled from src/cli/main.ts by `npm run build` (run by npm install).
import { setFlagsFromString } from 'node:v8';
// A small young generation: a node under steady load otherwise lets per-request garbage swing its
// memory by tens of MB between collections (BENCHMARKS.md, issue 9 soak), for no gain in throughput.
// Set before anything is allocated; NODE_OPTIONS or node's own flags can still override it.
if (!process.execArgv.some((a) => a.startsWith('--max-semi-space-size')) && !/--max-semi-space-size/.test(process.env.NODE_OPTIONS ?? '')) {
  setFlagsFromString('--max-semi-space-size=2');
}
const { main } = await import('../dist/cli/main.js');
main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
