// Who may serve from a shared directory. A node serves only while it owns the current epoch: a
// node started where another owns it joins that node as its secondary, or refuses; it never boots
// a fresh guest beside a live owner (a supervisor restarting a killed primary must not fork the state).
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { currentClaim, NODE_ID, type ClaimRecord } from './arbitration.js';
import type { Arbiter } from './arbiter.js';
import { EpochOwnedError } from './errors.js';

/** How long a starting node looks for the owner of the current epoch before it refuses. */
export const OWNER_SEARCH_MS = 3000;
const PROBE_TIMEOUT_MS = 500;

export type StartDecision =
  /** This node won the claim for `epoch`: it boots the guest and serves. */
  | { kind: 'owner'; epoch: number }
  /** Another node owns `epoch` and listens at `primaryUrl`: follow it as its secondary. */
  | { kind: 'join'; epoch: number; primaryUrl: string };

export interface OwnershipOptions {
  arbiter: Arbiter;
  who: string;
  /** Claim the next epoch even though its owner may be alive (the operator says it is gone for good). */
  takeover?: boolean;
  ownerSearchMs?: number;
  log(line: string): void;
}

/** Decides, at start, whether this node owns a new epoch or joins the current owner. */
export async function decideStart(options: OwnershipOptions): Promise<StartDecision> {
  const deadline = Date.now() + (options.ownerSearchMs ?? OWNER_SEARCH_MS);
  for (;;) {
    const { epoch, record, lapsed } = await options.arbiter.current();
    // A lapsed claim (its lease expired: the owner stopped releasing) is ours to follow on from if we were its primary: our files are the freshest.
    const reclaim = lapsed === true && (await options.arbiter.wasPrimaryOf(epoch));
    if (epoch < 0 || record?.releasedAtMs !== undefined || options.takeover || reclaim) {
      const next = epoch + 1;
      if (options.takeover && epoch >= 0 && record?.releasedAtMs === undefined) options.log(`--takeover: claiming epoch ${next} over epoch ${epoch} of ${describe(record)}`);
      if (reclaim) options.log(`the claim of epoch ${epoch} expired with its lease, and this node was its primary: claiming epoch ${next} (the guest boots afresh from this node's files; state kept only in memory is lost)`);
      if ((await options.arbiter.claim(next, options.who, undefined, { asMember: reclaim })) === 'won') return { kind: 'owner', epoch: next };
      continue; // another node claimed it first: look again
    }
    const address = record?.logListen;
    if (address && !isWildcard(address) && (await reachable(address))) return { kind: 'join', epoch, primaryUrl: `ws://${address}` };
    if (Date.now() >= deadline) throw new EpochOwnedError(epoch, describe(record), where(options.arbiter));
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The owner of the current epoch if it is live and its logging channel answers within `searchMs`; undefined if none. */
export async function findLiveOwner(arbiter: Arbiter, searchMs: number): Promise<{ epoch: number; primaryUrl: string } | undefined> {
  const deadline = Date.now() + searchMs;
  for (;;) {
    const { epoch, record } = await arbiter.current();
    if (record?.releasedAtMs !== undefined && epoch >= 0) return undefined; // stopped on purpose: nobody to follow
    const address = record?.nodeId === NODE_ID ? undefined : record?.logListen;
    if (address && !isWildcard(address) && (await reachable(address))) return { epoch, primaryUrl: `ws://${address}` };
    if (Date.now() >= deadline) return undefined;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** How errors and logs name the place epochs are decided: the shared directory, or etcd's endpoints and prefix. */
export function where(arbiter: Arbiter): string {
  const d = arbiter.describe();
  if (d.endpoints !== undefined) return `etcd ${String(d.endpoints)} (prefix ${String(d.prefix)})`;
  return String(d.dir ?? d.kind);
}

function describe(record: ClaimRecord | undefined): string {
  if (!record) return 'a node whose claim is being written, or whose claim expired with its lease (another node was its primary)';
  return `${record.who} on ${record.host}${record.logListen ? `, logging channel ${record.logListen}` : ''}`;
}

function isWildcard(address: string): boolean {
  return /^(0\.0\.0\.0|\[?::\]?):/.test(address);
}

/** Something accepts TCP connections at host:port (the owner's logging channel). */
function reachable(address: string): Promise<boolean> {
  const match = /^\[?(.+?)\]?:(\d+)$/.exec(address);
  if (!match) return Promise.resolve(false);
  return new Promise((resolve) => {
    const socket = connect({ host: match[1], port: Number(match[2]) });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(PROBE_TIMEOUT_MS, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** `lockstep run` on a pair's directory: refuse while the current epoch has an owner (it would serve beside it). */
export async function refuseIfOwned(dir: string): Promise<void> {
  if (!existsSync(join(dir, 'claims'))) return;
  const { epoch, record } = await currentClaim(dir);
  if (epoch >= 0 && record?.releasedAtMs === undefined) throw new EpochOwnedError(epoch, describe(record), dir);
}
