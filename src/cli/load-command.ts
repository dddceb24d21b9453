// `lockstep load`: turns command-line strings into LoadOptions (bad values are UsageErrors),
// runs the load with live progress on stderr, and prints the summary. Exit 0 only if nothing was lost or duplicated.

import { UsageError } from '../errors.js';
import { parseDuration } from '../client/durations.js';
import { loadDefaults, runLoad, type LoadOptions } from '../client/load-client.js';
import { createProgressPrinter, formatSummary, type ProgressStream } from '../client/progress.js';
import { isWorkloadName, makeWorkload, workloadNames } from '../client/workloads.js';

export interface LoadCommandOptions {
  targets: string;
  rate?: string;
  duration?: string;
  concurrency?: string;
  path?: string;
  method?: string;
  body?: string;
  workload?: string;
  json?: boolean;
  seed?: string;
  /** Extras beyond the usual flags, for the demo and for impatient tests. */
  timeout?: string;
  giveUp?: string;
  bodyBytes?: string;
}

/** Limits on option values, so a typo fails fast instead of exhausting the machine. */
export const concurrencyMax = 10_000;
export const bodyBytesMax = 16 * 1024 * 1024;

function number(text: string, flag: string, check: (n: number) => boolean, wanted: string): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || !check(n)) throw new UsageError(`${flag}: '${text}' is not ${wanted}.`);
  return n;
}

function parseTargets(text: string): string[] {
  const targets = text.split(',').map((t) => t.trim()).filter((t) => t !== '');
  if (targets.length === 0) throw new UsageError('--targets: give at least one URL, e.g. --targets http://127.0.0.1:8080,http://127.0.0.1:8081');
  for (const t of targets) {
    let url: URL;
    try {
      url = new URL(t);
    } catch {
      throw new UsageError(`--targets: '${t}' is not a URL; write e.g. http://127.0.0.1:8080`);
    }
    if (url.protocol !== 'http:') throw new UsageError(`--targets: '${t}' must start with http:// (the load client speaks plain HTTP).`);
  }
  return targets;
}

/** Validates everything before any request is sent. */
export function parseLoadOptions(opts: LoadCommandOptions): LoadOptions {
  const isInt = Number.isInteger;
  const name = opts.workload ?? (opts.path !== undefined || opts.method !== undefined || opts.body !== undefined ? 'generic' : 'counter');
  if (!isWorkloadName(name)) throw new UsageError(`--workload: unknown '${name}'; choose one of ${workloadNames.join(', ')}.`);
  if (name !== 'generic' && (opts.path !== undefined || opts.method !== undefined || opts.body !== undefined)) {
    throw new UsageError(`--path, --method and --body only apply to --workload generic, not '${name}'.`);
  }
  if (opts.path !== undefined && !opts.path.startsWith('/')) throw new UsageError(`--path: '${opts.path}' must start with '/'.`);
  if (opts.method !== undefined && !/^[A-Za-z]+$/.test(opts.method)) throw new UsageError(`--method: '${opts.method}' is not an HTTP method.`);
  const bodyBytes = opts.bodyBytes === undefined ? undefined : number(opts.bodyBytes, '--body-bytes', (n) => isInt(n) && n >= 0 && n <= bodyBytesMax, `a whole number of bytes up to ${bodyBytesMax}`);
  const ms = (text: string | undefined, flag: string) => {
    if (text === undefined) return undefined;
    const v = parseDuration(text, flag);
    if (v <= 0) throw new UsageError(`${flag}: '${text}' must be longer than 0.`);
    return v;
  };
  return {
    targets: parseTargets(opts.targets),
    rate: opts.rate === undefined ? undefined : number(opts.rate, '--rate', (n) => n >= 0, 'a number of requests per second (0 = unlimited)'),
    durationMs: ms(opts.duration, '--duration'),
    concurrency: opts.concurrency === undefined ? undefined : number(opts.concurrency, '--concurrency', (n) => isInt(n) && n >= 1 && n <= concurrencyMax, `a whole number from 1 to ${concurrencyMax}`),
    requestTimeoutMs: ms(opts.timeout, '--timeout'),
    giveUpAfterMs: ms(opts.giveUp, '--give-up'),
    seed: opts.seed === undefined ? undefined : number(opts.seed, '--seed', (n) => isInt(n) && n >= 0 && n <= 0xffffffff, 'a whole number from 0 to 4294967295'),
    workload: makeWorkload(name, { path: opts.path, method: opts.method?.toUpperCase(), body: opts.body, bodyBytes }),
  };
}

export async function loadCommand(opts: LoadCommandOptions, out: (s: string) => void, progressStream: ProgressStream = process.stderr): Promise<number> {
  const options = parseLoadOptions(opts);
  const printer = createProgressPrinter(progressStream);
  // Printed first so a failing run can be repeated with the same requests.
  const seed = options.seed ?? Math.floor(Math.random() * 0x1_0000_0000);
  progressStream.write(`SEED=${seed} targets=${options.targets.join(',')} rate=${options.rate ?? loadDefaults.rate}/s\n`);
  const summary = await runLoad({ ...options, seed }, { onProgress: printer.onProgress });
  printer.finish();
  if (opts.json) {
    const { answers: _answers, ...printable } = summary;
    out(JSON.stringify(printable, null, 2));
  } else {
    out(formatSummary(summary));
  }
  return summary.lost === 0 && summary.duplicates === 0 ? 0 : 1;
}
