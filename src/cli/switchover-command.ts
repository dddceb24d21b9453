// `lockstep switchover --to URL --after-entries K --dir D`: hands the primary role to a shadow
// (a node running a new program that has followed the live log) once it has followed K entries
// with no divergence. The checks are made here first, for a clear error, and again by the shadow;
// the handover itself runs between the shadow and the primary (replication/switchover.ts), and this
// command waits for its outcome. The request is proved with the pair's channel secret.
import { join } from 'node:path';
import { newNonce, readSecret, SECRET_FILE_NAME } from '../channel/secret.js';
import { UsageError } from '../errors.js';
import { STATUS_PATH } from '../http/service-server.js';
import { SWITCHOVER_ANSWER_MS, SWITCHOVER_PATH } from '../timetravel/shadow-node.js';
import { SwitchoverDivergedError, SwitchoverFailedError, SwitchoverTargetError, SwitchoverTooEarlyError } from '../timetravel/errors.js';
import { parseInteger } from './options.js';

export interface SwitchoverFlags {
  to: string;
  afterEntries: string;
  dir?: string;
  /** Two hosts: the pair's secret file (--secret-file), instead of <dir>/channel.secret. */
  secretFile?: string;
  json?: boolean;
}

export const SWITCHOVER_HELP = `
The target is a shadow's service URL (\`lockstep secondary NEW --primary ws://... --shadow\`). Its
primary stops admitting requests (503: clients retry elsewhere with their Idempotency-Key), lets
those in flight be answered, and once the shadow has replayed everything with no divergence logs a
planned stop; the shadow claims the next epoch and serves, and the old primary and its secondary
stop (exit 0: they run the old program). Start a secondary of the new program to protect it again.

Example:
  lockstep switchover --to http://127.0.0.1:8082 --after-entries 1000 --dir /tmp/pair

Exit codes: 0 handed over, 2 the target is not a shadow (or cannot be reached), 3 the shadow has
seen a divergence, 4 it has not followed K entries yet, 5 the switchover was refused or abandoned.`;

/** The request waits for the whole handover (drain, replay, claim) and a little more. */
const REQUEST_TIMEOUT_MS = SWITCHOVER_ANSWER_MS + 5000;

export async function switchoverCommand(flags: SwitchoverFlags, out: (line: string) => void): Promise<number> {
  const afterEntries = parseInteger(flags.afterEntries, '--after-entries', 0, Number.MAX_SAFE_INTEGER)!;
  const target = flags.to.replace(/\/+$/, '');
  const status = await getJson(`${target}${STATUS_PATH}`);
  if (status === undefined) throw new SwitchoverTargetError(`Cannot reach ${target}${STATUS_PATH}. Give --to the service URL of a running shadow (lockstep secondary NEW --shadow).`);
  if (status.role !== 'shadow') {
    throw new SwitchoverTargetError(`${target} is not a shadow (its role is ${String(status.role)}). Only a shadow, which checked the new program against the live primary, can be switched to: start one with \`lockstep secondary NEW_PROGRAM --primary ws://... --shadow\`.`);
  }
  const divergences = Number(status.divergences ?? 0);
  if (divergences > 0) {
    const first = status.firstDivergence as { line?: string } | null;
    throw new SwitchoverDivergedError(`The shadow at ${target} has seen ${divergences} divergence${divergences === 1 ? '' : 's'} (the first: ${first?.line ?? '?'}); its program does not behave as the primary's, so it must not take over.`);
  }
  const followed = Number(status.followedEntries ?? 0);
  if (followed < afterEntries) {
    throw new SwitchoverTooEarlyError(`The shadow at ${target} has followed ${followed} entries, fewer than the ${afterEntries} asked for (--after-entries). Wait for it, or ask for fewer.`);
  }
  if (!flags.secretFile && !flags.dir) throw new UsageError('switchover: give --dir (the pair\'s shared directory) or --secret-file (two hosts) so the request can be proved with the pair\'s secret.');
  const secret = await readSecret(flags.secretFile ?? join(flags.dir!, SECRET_FILE_NAME));
  const challenge = await getJson(`${target}${SWITCHOVER_PATH}`);
  if (typeof challenge?.nonce !== 'string') throw new SwitchoverTargetError(`${target} gave no switchover nonce: is it a shadow of this Lockstep version?`);
  const clientNonce = newNonce();
  const proof = secret.proof(Buffer.from(challenge.nonce, 'hex'), clientNonce, 'switchover');
  out(`switchover: asking the shadow at ${target} (followed ${followed} entries, 0 divergences) to take over...`);
  const response = await fetch(`${target}${SWITCHOVER_PATH}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ afterEntries, nonce: challenge.nonce, clientNonce: clientNonce.toString('hex'), proof: proof.toString('hex') }),
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  }).catch((error: unknown) => {
    throw new SwitchoverFailedError('LOCKSTEP_SWITCHOVER_NO_OUTCOME', `No outcome from ${target} (${error instanceof Error ? error.message : error}); look at its status before retrying.`);
  });
  const result = (await response.json().catch(() => ({}))) as Record<string, unknown>;
  if (!response.ok || result.ok !== true) {
    const code = typeof result.code === 'string' ? result.code : 'LOCKSTEP_SWITCHOVER_FAILED';
    const message = `The switchover to ${target} did not happen: ${String(result.message ?? `HTTP ${response.status}`)}`;
    if (code === 'LOCKSTEP_SWITCHOVER_DIVERGED') throw new SwitchoverDivergedError(message);
    if (code === 'LOCKSTEP_SWITCHOVER_TOO_EARLY') throw new SwitchoverTooEarlyError(message);
    throw new SwitchoverFailedError(code, message);
  }
  if (flags.json) out(JSON.stringify({ to: target, ...result }));
  else {
    out(`switched over: ${target} runs ${String(result.program)} as the primary of epoch ${String(result.epoch)}`);
    out(`  the old primary logged a planned stop at #${String(result.stopSeq)}; the shadow replayed it all (${String(result.answersCompared)} answer${result.answersCompared === 1 ? '' : 's'} compared, 0 divergences)`);
    out(`  its logging channel: ${String(result.logListen ?? 'not listening')} (start a secondary of the new program there to protect it)`);
  }
  return 0;
}

async function getJson(url: string): Promise<Record<string, unknown> | undefined> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(3000) });
    return (await response.json()) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}
