// The shared secret file: created once (even by racing creators), private, and never printed.

import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ChannelSecretError } from '../../src/channel/errors.js';
import { loadOrCreateSecret, readSecret, SECRET_FILE_NAME, type ChannelSecret } from '../../src/channel/secret.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lockstep-secret-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const n1 = new Uint8Array(32).fill(1);
const n2 = new Uint8Array(32).fill(2);
const fingerprint = (s: ChannelSecret) => s.proof(n1, n2, 'client').toString('hex');

describe('channel secret', () => {
  it('creates a 0600 file of 32 hex bytes once; later and racing callers read the same secret', async () => {
    const racers = await Promise.all(Array.from({ length: 6 }, () => loadOrCreateSecret(dir)));
    const path = join(dir, SECRET_FILE_NAME);
    expect(((await stat(path)).mode & 0o777).toString(8)).toBe('600');
    expect((await readFile(path, 'utf8')).trim()).toMatch(/^[0-9a-f]{64}$/);
    const again = await loadOrCreateSecret(dir);
    expect(new Set([...racers, again].map(fingerprint)).size).toBe(1);
    expect(fingerprint(await readSecret(path))).toBe(fingerprint(again));
  });

  it('refuses a missing, too-permissive or malformed file without printing its content', async () => {
    const path = join(dir, SECRET_FILE_NAME);
    await expect(readSecret(path)).rejects.toThrow(/does not exist/);
    const content = 'cd'.repeat(32);
    await writeFile(path, content, { mode: 0o644 });
    await chmod(path, 0o644);
    const err = await readSecret(path).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChannelSecretError);
    expect((err as ChannelSecretError).code).toBe('LOCKSTEP_CHANNEL_SECRET');
    expect((err as Error).message).toMatch(/mode 644.*chmod 600/);
    expect((err as Error).message).not.toContain(content);
    await chmod(path, 0o600);
    await writeFile(path, 'not hex at all');
    await expect(readSecret(path)).rejects.toThrow(/not 32 bytes of hex/);
  });

  it('never shows the key in inspect, String or JSON', async () => {
    const secret = await loadOrCreateSecret(dir);
    const hex = (await readFile(join(dir, SECRET_FILE_NAME), 'utf8')).trim();
    for (const shown of [inspect(secret), String(secret), JSON.stringify({ secret })]) expect(shown).not.toContain(hex.slice(0, 16));
  });
});
