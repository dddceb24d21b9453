// `lockstep log <file> [--json]`: prints a log's header, then one line per entry.
// Entries are printed as they are read, so a damaged log still shows everything before the damage
// before the LogFormatError propagates to the CLI.

import { readFile } from 'node:fs/promises';
import type { Entry, LogHeader } from '../log/entries.js';
import { describeEntry } from '../log/entries.js';
import { openLog } from '../log/log-file.js';

export async function logCommand(file: string, opts: { json?: boolean }, out: (line: string) => void): Promise<number> {
  const log = openLog(await readFile(file), { source: file });
  out(opts.json === true ? JSON.stringify({ header: log.header }) : describeHeader(log.header));
  let seq = 0;
  for (const entry of log.entries()) {
    seq++;
    out(opts.json === true ? JSON.stringify({ seq, ...entryFields(entry) }) : `#${seq}  ${describeEntry(entry)}`);
  }
  return 0;
}

function describeHeader(h: LogHeader): string {
  const limits = Object.entries(h.limits).map(([name, value]) => `${name}=${value}`).join(' ');
  return (
    `Lockstep log format ${h.formatVersion}, program ${h.programName} (sha256 ${h.programHash}), runtime ${h.runtime}, ` +
    `limits ${limits}, created ${isoTime(h.createdAtMs)}`
  );
}

/** A damaged-but-finite time must not crash the printer (toISOString throws outside ±8.64e15 ms). */
function isoTime(ms: number): string {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? `${ms} ms` : date.toISOString();
}

/** JSON has no binary: random bytes become hex. */
function entryFields(entry: Entry): Record<string, unknown> {
  return entry.kind === 'random' ? { kind: entry.kind, bytes: Buffer.from(entry.bytes).toString('hex') } : { ...entry };
}
