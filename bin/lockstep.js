#!/usr/bin/env node
// Thin launcher: the real entry point is compiled from src/cli/main.ts by `npm run build` (run by npm install).
import { main } from '../dist/cli/main.js';
main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
