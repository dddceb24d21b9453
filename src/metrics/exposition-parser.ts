// A strict reader of the Prometheus text exposition format (version 0.0.4): every line must be a
// comment, a HELP/TYPE line, or a well-formed sample of a declared family. Used by the dashboard
// to read a node's metrics and by the tests to check what the nodes serve.

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface MetricFamily {
  name: string;
  type: MetricType;
  help?: string;
  samples: Sample[];
}

export class ExpositionParseError extends Error {
  readonly code = 'LOCKSTEP_METRICS_PARSE';
  constructor(readonly line: number, reason: string, text: string) {
    super(`metrics line ${line}: ${reason}: ${JSON.stringify(text.slice(0, 200))}`);
  }
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES: readonly MetricType[] = ['counter', 'gauge', 'histogram', 'summary', 'untyped'];

/** The family a sample belongs to: histograms and summaries add suffixes to their name. */
function familyOf(sampleName: string, families: Map<string, MetricFamily>): MetricFamily | undefined {
  const exact = families.get(sampleName);
  if (exact) return exact;
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!sampleName.endsWith(suffix)) continue;
    const family = families.get(sampleName.slice(0, -suffix.length));
    if (family && (family.type === 'histogram' || (family.type === 'summary' && suffix !== '_bucket'))) return family;
  }
  return undefined;
}

/** A float as Go's ParseFloat reads it (what Prometheus itself uses): NaN and Inf in any case. */
export function parseValue(text: string): number | undefined {
  const special = /^([+-]?)(inf|infinity|nan)$/i.exec(text);
  if (special) return special[2].toLowerCase() === 'nan' ? NaN : special[1] === '-' ? -Infinity : Infinity;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) return undefined;
  return Number(text);
}

/** Reads `{a="x",b="y"}` starting at `text[start] === '{'`; returns the labels and the index after `}`. */
function parseLabels(text: string, start: number, fail: (reason: string) => never): { labels: Record<string, string>; end: number } {
  const labels: Record<string, string> = {};
  let i = start + 1;
  for (;;) {
    if (text[i] === '}') return { labels, end: i + 1 };
    const eq = text.indexOf('=', i);
    if (eq < 0) fail('label without "="');
    const name = text.slice(i, eq).trim();
    if (!LABEL_NAME.test(name)) fail(`bad label name '${name}'`);
    if (name in labels) fail(`label '${name}' repeated`);
    if (text[eq + 1] !== '"') fail(`label '${name}' value is not quoted`);
    let value = '';
    let j = eq + 2;
    for (; j < text.length && text[j] !== '"'; j++) {
      if (text[j] !== '\\') {
        value += text[j];
        continue;
      }
      const next = text[++j];
      if (next === 'n') value += '\n';
      else if (next === '\\' || next === '"') value += next;
      else fail(`bad escape '\\${next ?? ''}' in label '${name}'`);
    }
    if (j >= text.length) fail(`label '${name}' value is not closed`);
    labels[name] = value;
    i = j + 1;
    if (text[i] === ',') i++;
    else if (text[i] !== '}') fail('expected "," or "}" after a label');
  }
}

export function parseExposition(text: string): Map<string, MetricFamily> {
  const families = new Map<string, MetricFamily>();
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  lines.forEach((line, index) => {
    const fail = (reason: string): never => {
      throw new ExpositionParseError(index + 1, reason, line);
    };
    if (line.trim() === '') return;
    if (line.startsWith('#')) {
      const m = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s(.*))?$/.exec(line);
      if (!m) return; // a plain comment
      const [, keyword, name, rest = ''] = m;
      if (!METRIC_NAME.test(name)) fail(`bad metric name '${name}'`);
      const family = families.get(name) ?? { name, type: 'untyped' as MetricType, samples: [] };
      if (keyword === 'TYPE') {
        if (!TYPES.includes(rest.trim() as MetricType)) fail(`unknown type '${rest.trim()}'`);
        if (family.samples.length > 0) fail('TYPE after samples of the family');
        family.type = rest.trim() as MetricType;
      } else family.help = rest;
      families.set(name, family);
      return;
    }
    const nameMatch = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
    if (!nameMatch) fail('a sample must start with a metric name');
    const name = nameMatch![0];
    let labels: Record<string, string> = {};
    let i = name.length;
    if (line[i] === '{') ({ labels, end: i } = parseLabels(line, i, fail));
    if (line[i] !== ' ') fail('expected a space before the value');
    const parts = line.slice(i + 1).trim().split(/\s+/);
    if (parts.length > 2) fail('too many fields');
    const value = parseValue(parts[0]);
    if (value === undefined) fail(`bad value '${parts[0]}'`);
    if (parts.length === 2 && !/^-?\d+$/.test(parts[1])) fail(`bad timestamp '${parts[1]}'`);
    const family = familyOf(name, families);
    if (!family) fail(`sample of '${name}' without a TYPE or HELP line for its family`);
    if (family!.type === 'histogram' && name.endsWith('_bucket') && labels.le === undefined) fail('histogram bucket without "le"');
    family!.samples.push({ name, labels, value: value! });
  });
  return families;
}

/** The value of one sample (the first whose labels include `labels`), or undefined. */
export function sampleValue(families: Map<string, MetricFamily>, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const family of families.values()) {
    for (const s of family.samples) {
      if (s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)) return s.value;
    }
  }
  return undefined;
}
