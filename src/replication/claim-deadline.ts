// A claim must be decided in bounded time: a stalled shared filesystem (or an arbiter that does not
// answer) must not leave a node arbitrating forever, holding requests and memory.
import type { ClaimResult } from './arbitration.js';
import type { Arbiter, ClaimOptions } from './arbiter.js';
import { ClaimTimeoutError } from './errors.js';

/** How long a claim may take before the node gives up and stops (exit 11). */
export const CLAIM_TIMEOUT_MS_DEFAULT = 5000;

/** arbiter.claim, rejected with ClaimTimeoutError after `timeoutMs` (the claim itself may still land later: the node has stopped by then). */
export async function claimEpochWithin(arbiter: Arbiter, timeoutMs: number, epoch: number, who: string, logListen?: string, options?: ClaimOptions): Promise<ClaimResult> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ClaimTimeoutError(epoch, timeoutMs)), timeoutMs);
  });
  try {
    return await Promise.race([arbiter.claim(epoch, who, logListen, options), deadline]);
  } finally {
    clearTimeout(timer);
  }
}
