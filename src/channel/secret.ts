// The pair's shared secret: 32 random bytes in <dir>/channel.secret (hex, mode 0600), and the
// HMAC proofs both sides compute from it. The bytes stay inside ChannelSecret and never print.

import { createHmac, createSecretKey, hkdfSync, randomBytes, timingSafeEqual, type KeyObject } from 'node:crypto';
import { link, readFile, stat, unlink } from 'node:fs/promises';
import { writeFileSynced } from '../host/sync-dir.js';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { ChannelSecretError } from './errors.js';

export const SECRET_FILE_NAME = 'channel.secret';
/** 256 bits: as long as the HMAC-SHA256 key can usefully be. */
export const SECRET_BYTES = 32;
/** Both nonces are this long, so `serverNonce|clientNonce|role` is unambiguous. */
export const NONCE_BYTES = 32;

/** Per-direction session keys: as long as an HMAC-SHA256 key can usefully be. */
export const SESSION_KEY_BYTES = 32;

/** Who proves: a secondary ('client'), a shadow (its proof cannot attach it as a secondary), the primary, or `lockstep switchover`. */
export type ProofRole = 'client' | 'shadow' | 'server' | 'switchover';

export class ChannelSecret {
  readonly #key: Buffer;

  constructor(key: Uint8Array) {
    if (key.length < SECRET_BYTES) throw new ChannelSecretError(`too short (${key.length} bytes, need ${SECRET_BYTES})`, '(given)');
    this.#key = Buffer.from(key);
  }

  static random(): ChannelSecret {
    return new ChannelSecret(randomBytes(SECRET_BYTES));
  }

  /** HMAC-SHA256(secret, serverNonce | clientNonce | role): the role stops a proof being reflected back. */
  proof(serverNonce: Uint8Array, clientNonce: Uint8Array, role: ProofRole): Buffer {
    return createHmac('sha256', this.#key).update(serverNonce).update(clientNonce).update(role).digest();
  }

  /**
   * HKDF-SHA256(secret, salt = transcript hash, info = label): a key for one direction of one
   * connection. The salt binds it to both nonces and everything said in the handshake.
   */
  sessionKey(transcriptHash: Uint8Array, label: string): KeyObject {
    return createSecretKey(Buffer.from(hkdfSync('sha256', this.#key, transcriptHash, label, SESSION_KEY_BYTES)));
  }

  /** Constant-time check, so a peer cannot learn the proof byte by byte. */
  verify(proof: Uint8Array, serverNonce: Uint8Array, clientNonce: Uint8Array, role: ProofRole): boolean {
    const expected = this.proof(serverNonce, clientNonce, role);
    return proof.length === expected.length && timingSafeEqual(proof, expected);
  }

  // Keep the key out of logs, console.log and JSON.
  toJSON(): string {
    return '[ChannelSecret]';
  }
  toString(): string {
    return '[ChannelSecret]';
  }
  [inspect.custom](): string {
    return '[ChannelSecret]';
  }
}

export function newNonce(): Buffer {
  return randomBytes(NONCE_BYTES);
}

/** Read a secret file; refuse one that others can read, since whoever reads it can feed the log. */
export async function readSecret(path: string): Promise<ChannelSecret> {
  let text: string;
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new ChannelSecretError('is not a regular file', path);
    if (process.platform !== 'win32' && (info.mode & 0o077) !== 0) {
      const mode = (info.mode & 0o777).toString(8);
      throw new ChannelSecretError(`is readable or writable by others (mode ${mode}); run chmod 600 on it`, path);
    }
    text = await readFile(path, 'utf8');
  } catch (err) {
    if (err instanceof ChannelSecretError) throw err;
    const code = (err as NodeJS.ErrnoException).code ?? 'unknown error';
    const advice = code === 'ENOENT' ? 'does not exist; make one with `lockstep secret --out PATH` and give both nodes a copy (with a shared --dir it is made on first start)' : `cannot be read (${code}); check its owner and permissions`;
    throw new ChannelSecretError(advice, path);
  }
  const hex = text.trim();
  // Say what is wrong with the shape, never what the content is.
  if (!/^[0-9a-f]+$/i.test(hex) || hex.length !== SECRET_BYTES * 2) {
    throw new ChannelSecretError(`is not ${SECRET_BYTES} bytes of hex (${hex.length} characters found); delete it to have a new one created`, path);
  }
  return new ChannelSecret(Buffer.from(hex, 'hex'));
}

/**
 * Create <dir>/channel.secret if absent, else read it. The content is written to a private temp
 * file first and then hard-linked into place: link() fails with EEXIST like O_EXCL, and a racing
 * creator can never read a half-written file.
 */
export async function loadOrCreateSecret(dir: string): Promise<ChannelSecret> {
  const path = join(dir, SECRET_FILE_NAME);
  const temp = join(dir, `.${SECRET_FILE_NAME}.${process.pid}.${randomBytes(6).toString('hex')}`);
  try {
    await writeFileSynced(temp, `${newSecretHex()}\n`, 'wx', 0o600);
    await link(temp, path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EEXIST') throw new ChannelSecretError(`cannot be created (${code ?? String(err)}); check that the directory exists and is writable`, path);
  } finally {
    await unlink(temp).catch(() => undefined);
  }
  return readSecret(path);
}

/** 32 random bytes as hex: what a secret file holds. */
export function newSecretHex(): string {
  return randomBytes(SECRET_BYTES).toString('hex');
}

/** Writes a new secret file (mode 600); refuses to replace one (the other node holds its copy). */
export async function writeNewSecretFile(path: string): Promise<void> {
  try {
    await writeFileSynced(path, `${newSecretHex()}\n`, 'wx', 0o600);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ChannelSecretError(code === 'EEXIST' ? 'already exists; a pair keeps its secret (delete it first to make a new one, and copy the new one to both nodes)' : `cannot be created (${code ?? String(err)})`, path);
  }
}
