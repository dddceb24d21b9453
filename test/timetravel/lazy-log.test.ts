// The lazily decoded log gives exactly the entries the whole-log reader gives, for every golden
// recording and for logs of every batch size; damage in a frame is reported when it is read.
import { readdirSync, readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { encodeBatch } from '../../src/log/codec.js';
import { readLogFile } from '../../src/log/log-file.js';
import { GOLDEN_DIR } from '../../scripts/record-fixtures.lib.js';
import { LazyLog, peekBatch } from '../../src/timetravel/lazy-log.js';

describe('LazyLog', () => {
  test.each(readdirSync(GOLDEN_DIR).filter((n) => n.endsWith('.log')))('%s: every entry as the whole-log reader reads it', (name) => {
    const path = join(GOLDEN_DIR, name);
    const whole = readLogFile(path);
    const lazy = LazyLog.open(path);
    expect(lazy.firstSeq).toBe(whole.firstSeq);
    expect(lazy.lastSeq).toBe(whole.firstSeq + whole.entries.length - 1);
    expect(lazy.header).toEqual(whole.header);
    // Backwards first, so frames are decoded out of order.
    for (let seq = lazy.lastSeq; seq >= lazy.firstSeq; seq--) expect(lazy.entryAt(seq)).toEqual(whole.entries[seq - whole.firstSeq]);
    expect(lazy.entryAt(lazy.lastSeq + 1)).toBeUndefined();
    expect(lazy.entryAt(0)).toBeUndefined();
  });

  test('peeks the first entry number and count of batches of any size, at any entry number', () => {
    for (const firstSeq of [1, 127, 128, 255, 256, 65_535, 65_536, 2 ** 32 - 1, 2 ** 32, 2 ** 40]) {
      for (const count of [1, 15, 16, 65_535, 65_536]) {
        const entries = Array.from({ length: count }, () => ({ kind: 'timer' as const, timerId: 1 }));
        expect(peekBatch(encodeBatch(firstSeq, entries))).toEqual({ firstSeq, count });
      }
    }
  });

  test('a damaged frame is reported when an entry in it is asked for; a torn end at once', () => {
    const path = join(GOLDEN_DIR, 'counter.log');
    const bytes = readFileSync(path);
    const dir = mkdtempSync(join(tmpdir(), 'lockstep-lazy-log-'));
    const flipped = Buffer.from(bytes);
    flipped[flipped.length - 3] ^= 0xff;
    writeFileSync(join(dir, 'flipped.log'), flipped);
    const lazy = LazyLog.open(join(dir, 'flipped.log'));
    expect(() => lazy.entryAt(lazy.lastSeq)).toThrow(/checksum mismatch/);
    writeFileSync(join(dir, 'torn.log'), bytes.subarray(0, bytes.length - 2));
    expect(() => LazyLog.open(join(dir, 'torn.log'))).toThrow(/truncated/);
    expect(() => LazyLog.open(join(dir, 'none.log'))).toThrow(/Cannot read the log/);
  });
});
