// `lockstep bench`: runs the benchmark, prints the tables, writes the JSON results and the HTML report.
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { runBench, type BenchOptions } from './bench.js';
import { renderHtmlReport } from './html-report.js';
import { formatTables } from './table.js';

export interface BenchCommandOptions {
  /** 2 reps x 1.5 s (default: 5 reps x 5 s). */
  quick?: boolean;
  /** Directory for the outputs (default bench-results). */
  out?: string;
  /** JSON results file (default <out>/bench.json). */
  json?: string;
  /** HTML report file (default <out>/report.html). */
  html?: string;
}

export const DEFAULT_OUT_DIR = 'bench-results';

/** Returns an exit code: 0, or 1 when the benchmark could not run (the reason is printed). */
export async function benchCommand(opts: BenchCommandOptions & Omit<BenchOptions, 'quick'>, print: (line: string) => void): Promise<number> {
  const out = opts.out ?? DEFAULT_OUT_DIR;
  const jsonPath = opts.json ?? join(out, 'bench.json');
  const htmlPath = opts.html ?? join(out, 'report.html');
  let results;
  try {
    results = await runBench(opts, print);
  } catch (error) {
    print(`lockstep bench: the benchmark failed: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
  print('');
  for (const line of formatTables(results)) print(line);
  await mkdir(dirname(jsonPath), { recursive: true });
  await writeFile(jsonPath, JSON.stringify(results, null, 2) + '\n');
  await mkdir(dirname(htmlPath), { recursive: true });
  await writeFile(htmlPath, renderHtmlReport(results));
  print('');
  print(`results: ${jsonPath}`);
  print(`report: ${htmlPath}`);
  return 0;
}
