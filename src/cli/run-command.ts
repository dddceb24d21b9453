// `lockstep run <program>`: the unreplicated baseline; stops cleanly on SIGINT/SIGTERM so a
// recording ends with a final check entry.
import { startStandalone } from '../host/standalone.js';
import { UsageError } from '../errors.js';
import { parseInteger, parseLimits, type LimitFlags } from './options.js';

export interface RunFlags extends LimitFlags {
  port: string;
  host: string;
  dir: string;
  record?: string;
  bodyBytesMax?: string;
  checkpointEveryEntries?: string;
  checkpointsKept?: string;
  recordBytesMax?: string;
  journalBytesMax?: string;
}

export async function runCommand(program: string, flags: RunFlags): Promise<number> {
  if ((flags.checkpointEveryEntries !== undefined || flags.checkpointsKept !== undefined || flags.recordBytesMax !== undefined) && !flags.record) {
    throw new UsageError('--checkpoint-every-entries, --checkpoints-kept and --record-bytes-max need --record FILE: checkpoints are written beside the recorded log.');
  }
  if (flags.recordBytesMax !== undefined && flags.checkpointEveryEntries === undefined) {
    throw new UsageError('--record-bytes-max needs --checkpoint-every-entries N: a recording is cut only at a checkpoint, which it then replays from.');
  }
  const node = await startStandalone({
    program,
    host: flags.host,
    port: parseInteger(flags.port, '--port', 0, 65535),
    dir: flags.dir,
    record: flags.record,
    limits: parseLimits(flags),
    bodyBytesMax: parseInteger(flags.bodyBytesMax, '--body-bytes-max', 0, 1024 * 1024 * 1024),
    checkpointEveryEntries: parseInteger(flags.checkpointEveryEntries, '--checkpoint-every-entries', 1, Number.MAX_SAFE_INTEGER),
    checkpointsKept: parseInteger(flags.checkpointsKept, '--checkpoints-kept', 1, 1_000_000),
    recordBytesMax: parseInteger(flags.recordBytesMax, '--record-bytes-max', 4096, Number.MAX_SAFE_INTEGER),
    journalBytesMax: parseInteger(flags.journalBytesMax, '--journal-bytes-max', 4096, Number.MAX_SAFE_INTEGER),
  });
  process.stderr.write(`lockstep run: serving ${program} on http://${flags.host}:${node.port}${flags.record ? `, recording to ${flags.record}` : ''}\n`);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await node.stop();
  process.stderr.write(`lockstep run: stopped after ${node.executor.lastSeq} log entries\n`);
  return 0;
}
