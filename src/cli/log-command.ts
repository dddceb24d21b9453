// `lockstep log <file> [--json] [--checkpoints]`: prints a log's header, then one line per entry,
// then the checkpoint files beside it. Entries are printed as they are read, so a damaged log still
// shows everything before the damage before the LogFormatError propagates to the CLI.

import { isUtf8 } from 'node:buffer';
import { readFile } from 'node:fs/promises';
import { readCheckpointHeader } from '../checkpoint/format.js';
import { CheckpointError } from '../checkpoint/errors.js';
import { listCheckpointFiles } from '../checkpoint/sidecar.js';
import type { Entry, LogHeader } from '../log/entries.js';
import { describeEntry } from '../log/entries.js';
import { openLog } from '../log/log-file.js';

export async function logCommand(file: string, opts: { json?: boolean; checkpoints?: boolean }, out: (line: string) => void): Promise<number> {
  const json = opts.json === true;
  const onlyCheckpoints = opts.checkpoints === true;
  const log = openLog(await readFile(file), { source: file });
  out(json ? JSON.stringify({ header: log.header }) : describeHeader(log.header));
  let seq = (log.header.firstSeq ?? 1) - 1;
  /** The digest each `checkpoint` entry logged, by the seq of the state it describes. */
  const logged = new Map<number, string>();
  for (const entry of log.entries()) {
    seq++;
    if (entry.kind === 'checkpoint') logged.set(seq - 1, entry.stateDigest);
    if (onlyCheckpoints && entry.kind !== 'checkpoint') continue;
    out(json ? JSON.stringify({ seq, ...entryFields(entry) }) : `#${seq}  ${describeEntry(entry)}`);
  }
  for (const checkpoint of await listCheckpointFiles(file)) {
    let line: Record<string, unknown>;
    try {
      const { header } = readCheckpointHeader(await readFile(checkpoint.path), checkpoint.path);
      const digest = logged.get(header.seq);
      const check = digest === undefined ? 'no checkpoint entry in the log' : digest === header.stateDigest ? 'matches the log' : `DIFFERS from the log's ${digest}`;
      line = { file: checkpoint.path, seq: header.seq, bytes: checkpoint.bytes, heapUsedBytes: header.heapUsedBytes, stateDigest: header.stateDigest, check };
    } catch (error) {
      if (!(error instanceof CheckpointError)) throw error;
      line = { file: checkpoint.path, seq: checkpoint.seq, bytes: checkpoint.bytes, error: error.code };
    }
    out(
      json
        ? JSON.stringify({ checkpoint: line })
        : `checkpoint ${line.file}: state after #${line.seq}, ${line.bytes} bytes` +
            (line.error ? `, unreadable (${line.error})` : `, ${line.heapUsedBytes} heap bytes used, state digest ${line.stateDigest} (${line.check})`),
    );
  }
  return 0;
}

function describeHeader(h: LogHeader): string {
  const limits = Object.entries(h.limits).map(([name, value]) => `${name}=${value}`).join(' ');
  return (
    `Lockstep log format ${h.formatVersion}, program ${h.programName} (sha256 ${h.programHash}), runtime ${h.runtime}, ` +
    `limits ${limits}, created ${isoTime(h.createdAtMs)}` +
    (h.firstSeq !== undefined && h.firstSeq > 1 ? `; cut to stay bounded: entries from #${h.firstSeq} on (replayed from the checkpoint of the state after #${h.firstSeq - 1})` : '')
  );
}

/** A damaged-but-finite time must not crash the printer (toISOString throws outside ±8.64e15 ms). */
function isoTime(ms: number): string {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? `${ms} ms` : date.toISOString();
}

/** JSON has no binary: random bytes become hex; a request body is text when it is UTF-8, else base64 (`bodyBase64`). */
export function entryFields(entry: Entry): Record<string, unknown> {
  if (entry.kind === 'random') return { kind: entry.kind, bytes: Buffer.from(entry.bytes).toString('hex') };
  if (entry.kind !== 'request') return { ...entry };
  const { body, ...rest } = entry;
  const bytes = Buffer.from(body.buffer, body.byteOffset, body.length);
  return isUtf8(bytes) ? { ...rest, body: bytes.toString('utf8') } : { ...rest, bodyBase64: bytes.toString('base64') };
}
