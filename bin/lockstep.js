#!/usr/bin/env node
// Thin launcher: the real entry point is compiled from src/cli/main.ts by `npm run build` (run by npm install).
import { main } from '../dist/cli/main.js';

/** A failed command has released what it took; a handle left open by mistake must not keep it running. */
const FAILED_EXIT_GRACE_MS = 1000;

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
  if (code !== 0) setTimeout(() => process.exit(code), FAILED_EXIT_GRACE_MS).unref();
});
