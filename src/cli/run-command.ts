// `lockstep run <program>`: the unreplicated baseline; stops cleanly on SIGINT/SIGTERM so a
// recording ends with a final check entry.
import { startStandalone } from '../host/standalone.js';
import { parseInteger, parseLimits, type LimitFlags } from './options.js';

export interface RunFlags extends LimitFlags {
  port: string;
  host: string;
  dir: string;
  record?: string;
  bodyBytesMax?: string;
}

export async function runCommand(program: string, flags: RunFlags): Promise<number> {
  const node = await startStandalone({
    program,
    host: flags.host,
    port: parseInteger(flags.port, '--port', 0, 65535),
    dir: flags.dir,
    record: flags.record,
    limits: parseLimits(flags),
    bodyBytesMax: parseInteger(flags.bodyBytesMax, '--body-bytes-max', 0, 1024 * 1024 * 1024),
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
