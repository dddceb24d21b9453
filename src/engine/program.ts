// A guest program on disk and the identity of a run of it (the log header / channel handshake).
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { GuestLoadError } from '../errors.js';
import { LOG_FORMAT_VERSION, type GuestLimits, type LogHeader } from '../log/entries.js';
import { Guest } from '../sandbox/guest.js';
import { QUICKJS_RUNTIME_ID } from '../sandbox/quickjs-module.js';

/** Bump when the sandbox (prelude, owned imports, effect handling) changes what a guest observes. */
export const SANDBOX_VERSION = 5;
export const RUNTIME_ID = `${QUICKJS_RUNTIME_ID}+lockstep-sandbox-${SANDBOX_VERSION}`;
/** Guest programs larger than this are refused (they are source files, not data). */
export const PROGRAM_BYTES_MAX = 4 * 1024 * 1024;

export interface Program {
  path: string;
  name: string;
  source: string;
  hash: string;
}

export async function loadProgram(path: string): Promise<Program> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    throw new GuestLoadError(`Cannot read the guest program ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}. Check the path.`);
  }
  if (bytes.length > PROGRAM_BYTES_MAX) throw new GuestLoadError(`The guest program ${path} is ${bytes.length} bytes; at most ${PROGRAM_BYTES_MAX} are allowed.`);
  // Every node loads its program before it claims, serves or joins: the cold start of the sandbox
  // (wasm compilation, V8's first runs of the QuickJS parser) is paid here, not at a secondary's
  // boot on the first log entry, where it is a pause the primary's failure detector sees.
  await Guest.warmUp();
  return { path, name: basename(path), source: bytes.toString('utf8'), hash: createHash('sha256').update(bytes).digest('hex') };
}

export function makeHeader(program: Program, limits: GuestLimits): LogHeader {
  return { formatVersion: LOG_FORMAT_VERSION, runtime: RUNTIME_ID, programHash: program.hash, programName: program.name, limits: { ...limits }, createdAtMs: Date.now() };
}
