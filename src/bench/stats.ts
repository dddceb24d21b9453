// Summaries of repeated measurements: the median with its min-max spread, and percentiles.

/** A figure measured several times: quote the median, show the spread. */
export interface Spread {
  median: number;
  min: number;
  max: number;
  samples: number[];
}

export function spreadOf(samples: number[]): Spread {
  if (samples.length === 0) return { median: NaN, min: NaN, max: NaN, samples: [] };
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]!, samples: [...samples] };
}

/** Nearest-rank percentile (p in 0..1) of unsorted values; NaN when there are none. */
export function percentile(values: ArrayLike<number>, p: number): number {
  if (values.length === 0) return NaN;
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

/** Ratio of medians, with the spread of the per-repetition ratios. */
export function ratioOf(numerator: Spread, denominator: Spread): Spread {
  const n = Math.min(numerator.samples.length, denominator.samples.length);
  const ratios: number[] = [];
  for (let i = 0; i < n; i++) ratios.push(numerator.samples[i]! / denominator.samples[i]!);
  const spread = spreadOf(ratios);
  return { ...spread, median: numerator.median / denominator.median };
}
