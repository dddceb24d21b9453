// What a recorded log costs: its size per event and per byte of input it carries.
import { statSync } from 'node:fs';
import { isEvent, type Entry } from '../log/entries.js';
import { readLogFile } from '../log/log-file.js';

export interface LogAnalysis {
  fileBytes: number;
  entries: number;
  events: number;
  /** Events before the first request (start, and what start() set off). */
  bootEvents: number;
  /**
   * Bytes of input the log has to carry: each request's method, path, header names and values
   * and body; each file read's data; 8 per clock read; each random value's bytes.
   */
  inputBytes: number;
  bytesPerEvent: number;
  bytesPerInputByte: number;
  entriesByKind: Record<string, number>;
}

export function inputBytesOf(entry: Entry): number {
  switch (entry.kind) {
    case 'request': {
      let n = Buffer.byteLength(entry.method) + Buffer.byteLength(entry.path) + Buffer.byteLength(entry.body);
      for (const [name, value] of entry.headers) n += Buffer.byteLength(name) + Buffer.byteLength(value);
      return n;
    }
    case 'read':
      return entry.ok ? Buffer.byteLength(entry.data) : 0;
    case 'now':
      return 8;
    case 'random':
      return entry.bytes.length;
    default:
      return 0;
  }
}

export function analyzeLog(path: string): LogAnalysis {
  const fileBytes = statSync(path).size;
  const { entries } = readLogFile(path);
  let events = 0;
  let bootEvents = 0;
  let inputBytes = 0;
  let sawRequest = false;
  const entriesByKind: Record<string, number> = {};
  for (const entry of entries) {
    entriesByKind[entry.kind] = (entriesByKind[entry.kind] ?? 0) + 1;
    inputBytes += inputBytesOf(entry);
    if (!isEvent(entry)) continue;
    events++;
    if (entry.kind === 'request') sawRequest = true;
    if (!sawRequest) bootEvents++;
  }
  return {
    fileBytes,
    entries: entries.length,
    events,
    bootEvents,
    inputBytes,
    bytesPerEvent: fileBytes / events,
    bytesPerInputByte: fileBytes / inputBytes,
    entriesByKind,
  };
}
