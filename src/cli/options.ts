// Parsing of shared command-line options (limits, ports, addresses) into typed values.
import { UsageError } from '../errors.js';
import type { GuestLimits } from '../log/entries.js';
import { DEFAULT_GUEST_LIMITS } from '../sandbox/guest.js';

export function parseInteger(text: string | undefined, flag: string, min: number, max: number): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`${flag}: '${text}' is not a whole number between ${min} and ${max}.`);
  return n;
}

export interface LimitFlags {
  memoryMb?: string;
  stackKb?: string;
  cpuPollsMax?: string;
}

export function parseLimits(flags: LimitFlags): GuestLimits {
  return {
    memoryBytesMax: (parseInteger(flags.memoryMb, '--memory-mb', 1, 4096) ?? DEFAULT_GUEST_LIMITS.memoryBytesMax / 1048576) * 1048576,
    stackBytesMax: (parseInteger(flags.stackKb, '--stack-kb', 16, 65536) ?? DEFAULT_GUEST_LIMITS.stackBytesMax / 1024) * 1024,
    cpuPollsPerEventMax: parseInteger(flags.cpuPollsMax, '--cpu-polls-max', 1, 1_000_000_000) ?? DEFAULT_GUEST_LIMITS.cpuPollsPerEventMax,
  };
}

export function parseHostPort(text: string, flag: string): { host: string; port: number } {
  const match = /^(.+):(\d+)$/.exec(text);
  if (!match) throw new UsageError(`${flag}: '${text}' is not HOST:PORT (e.g. 127.0.0.1:7070).`);
  return { host: match[1].replace(/^\[|\]$/g, ''), port: parseInteger(match[2], flag, 0, 65535)! };
}
