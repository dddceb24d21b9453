// Golden logs (test/fixtures/golden, written by scripts/record-fixtures.ts): each recorded log replays
// in a separate `lockstep replay` process on a "far" host (other TZ and locale) to the digest of the
// recording's final check, and each tampered copy is refused as a divergence at the expected entry.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readLogFile } from '../../src/log/log-file.js';
import { assertBuilt, FAR_ENVS, GOLDEN_DIR, GUEST_NAMES, guestPath, runCli } from '../../scripts/record-fixtures.lib.js';

interface ManifestEntry {
  entries: number;
  events: number;
  finalDigest: string;
  tamper: { seq: number; change: string; divergesAt: number };
}
const manifest = JSON.parse(readFileSync(join(GOLDEN_DIR, 'manifest.json'), 'utf8')) as Record<string, ManifestEntry>;

beforeAll(() => assertBuilt());

describe.each(GUEST_NAMES.map((name, i) => ({ name, env: FAR_ENVS[i % FAR_ENVS.length]! })))('golden log of $name', ({ name, env }) => {
  const logPath = join(GOLDEN_DIR, `${name}.log`);

  it(`replays in another process (TZ=${env.TZ}) to the recording's final check digest`, async () => {
    const { entries } = readLogFile(logPath);
    const finalCheck = entries.at(-1);
    expect(finalCheck?.kind).toBe('check');
    const digest = finalCheck?.kind === 'check' ? finalCheck.digest : '';
    expect(digest).toBe(manifest[name]!.finalDigest);
    // The log holds every kind of input the guest got: requests, and disk completions or timers.
    const kinds = new Set(entries.map((e) => e.kind));
    expect(kinds.has('request')).toBe(true);
    expect(kinds.has('now')).toBe(true);
    if (name !== 'echo') expect(kinds.has('read') && kinds.has('write')).toBe(true);
    if (name === 'cron') expect(kinds.has('timer')).toBe(true);
    if (name === 'lottery') expect(kinds.has('random')).toBe(true);

    const result = await runCli(['replay', logPath, guestPath(name)], env);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`replayed ${entries.length} entries (${manifest[name]!.events} events`);
    expect(result.stdout).toContain(`digest ${digest}`);
  });

  it('refuses the tampered copy as a divergence naming the entry', async () => {
    const tamper = manifest[name]!.tamper;
    // The copy is well-formed: it reads without error and differs from the original in one entry only.
    const original = readLogFile(logPath).entries;
    const tampered = readLogFile(join(GOLDEN_DIR, `${name}.tampered.log`)).entries;
    expect(tampered.length).toBe(original.length);
    const differing = original.map((e, i) => (JSON.stringify(e) === JSON.stringify(tampered[i]) ? 0 : i + 1)).filter((seq) => seq > 0);
    expect(differing).toEqual([tamper.seq]);

    const result = await runCli(['replay', join(GOLDEN_DIR, `${name}.tampered.log`), guestPath(name)], env);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(`Replay diverged at entry #${tamper.divergesAt}`);
    expect(result.stderr).toContain('LOCKSTEP_DIVERGENCE');
  });
});
