// The strict exposition reader accepts what the format allows and refuses, by line, what it does not.
import { describe, expect, it } from 'vitest';
import { ExpositionParseError, parseExposition, sampleValue } from '../../src/metrics/exposition-parser.js';

const good = `# HELP a_total Things.
# TYPE a_total counter
a_total 3
# TYPE h_seconds histogram
h_seconds_bucket{le="0.1",effect="respond"} 1
h_seconds_bucket{le="+Inf",effect="respond"} 2
h_seconds_sum{effect="respond"} 0.25
h_seconds_count{effect="respond"} 2
# a plain comment
# TYPE g gauge
g{path="a \\"quoted\\" \\\\ back\\nslash"} -1.5e-3 1700000000000
g{x="y"} NaN
g{x="z"} Nan
`;

describe('parseExposition', () => {
  it('reads families, labels with escapes, special values and timestamps', () => {
    const families = parseExposition(good);
    expect(families.get('a_total')).toMatchObject({ type: 'counter', help: 'Things.' });
    expect(sampleValue(families, 'a_total')).toBe(3);
    expect(families.get('h_seconds')!.samples).toHaveLength(4);
    expect(sampleValue(families, 'h_seconds_bucket', { le: '+Inf' })).toBe(2);
    expect(families.get('g')!.samples[0]).toEqual({ name: 'g', labels: { path: 'a "quoted" \\ back\nslash' }, value: -0.0015 });
    expect(Number.isNaN(sampleValue(families, 'g', { x: 'y' }))).toBe(true);
    expect(Number.isNaN(sampleValue(families, 'g', { x: 'z' }))).toBe(true); // Go's ParseFloat, as Prometheus reads it
  });

  it.each([
    ['a sample with no family', 'x 1'],
    ['a bad value', '# TYPE x gauge\nx one'],
    ['an unquoted label value', '# TYPE x gauge\nx{a=b} 1'],
    ['an unclosed label value', '# TYPE x gauge\nx{a="b} 1'],
    ['a repeated label', '# TYPE x gauge\nx{a="1",a="2"} 1'],
    ['a bad escape', '# TYPE x gauge\nx{a="\\t"} 1'],
    ['an unknown type', '# TYPE x meter'],
    ['a bucket without le', '# TYPE h histogram\nh_bucket 1'],
    ['a bad timestamp', '# TYPE x gauge\nx 1 soon'],
    ['too many fields', '# TYPE x gauge\nx 1 2 3'],
    ['no value', '# TYPE x gauge\nx'],
  ])('refuses %s, naming the line', (_what, text) => {
    expect(() => parseExposition(text)).toThrow(ExpositionParseError);
    try {
      parseExposition(text);
    } catch (error) {
      expect((error as ExpositionParseError).line).toBe(text.split('\n').length);
    }
  });
});
