// A pair heals itself: a node that is fenced (it lost a claim: a false failover, a freeze, a flap)
// does not leave the pair unprotected until a supervisor comes. Once it has released everything it
// held (ports, the guest), the same process finds the current owner in the claims and follows it as
// a fresh secondary (from the owner's newest checkpoint). With --no-rejoin it exits as before.
import { findLiveOwner } from './ownership.js';
import { FENCED_EXIT_CODE, type RunningNode } from './pair-node.js';
import type { Arbiter } from './arbiter.js';

/** How long a fenced node looks for the owner that fenced it (it listens once it went live). */
export const REJOIN_OWNER_SEARCH_MS = 30_000;

export interface RejoinOptions {
  arbiter: Arbiter;
  log(line: string): void;
  /** Starts this process as a fresh secondary of the owner listening at `primaryUrl`. */
  follow(primaryUrl: string): Promise<RunningNode>;
  ownerSearchMs?: number;
}

/** Runs `first`, and after each fence follows the current owner; `done` resolves when a node ends for another reason. */
export function withRejoin(first: RunningNode, options: RejoinOptions): RunningNode {
  let current = first;
  let stopping = false;
  const done = (async () => {
    for (;;) {
      const code = await current.done;
      if (code !== FENCED_EXIT_CODE || stopping) return code;
      const next = await rejoin(options);
      if (!next) return code;
      current = next;
    }
  })();
  return {
    port: first.port,
    get logPort() {
      return current.logPort;
    },
    done,
    status: () => current.status(),
    stop: async (reason) => {
      stopping = true;
      await current.stop(reason);
    },
  };
}

async function rejoin(options: RejoinOptions): Promise<RunningNode | undefined> {
  const owner = await findLiveOwner(options.arbiter, options.ownerSearchMs ?? REJOIN_OWNER_SEARCH_MS);
  if (!owner) {
    options.log('fenced, and no live owner of the current epoch could be found to rejoin: stopping');
    return undefined;
  }
  options.log(`fenced: rejoining the owner of epoch ${owner.epoch} at ${owner.primaryUrl} as its secondary (fresh state)`);
  try {
    return await options.follow(owner.primaryUrl);
  } catch (error) {
    options.log(`cannot rejoin: ${error instanceof Error ? error.message : error}`);
    return undefined;
  }
}
