// Who decides epochs, behind one interface with one file per store (as Patroni's dcs/): the
// replication code (claims on a peer's failure, ownership at start, rejoin) names only this. The
// file arbiter (claims in the shared --dir, O_EXCL: arbitration.ts) is the default for one host;
// the etcd arbiter (transactions on etcd's JSON gateway: etcd-arbiter.ts) needs no shared directory.
import type { ClaimRecord, ClaimResult, CurrentClaim } from './arbitration.js';

export type ClaimChange = Partial<Pick<ClaimRecord, 'logListen' | 'releasedAtMs'>>;

export interface ClaimOptions {
  /** A failover: only a member of the epoch before (its primary or declared secondary) may win. */
  asMember?: boolean;
}

export interface Arbiter {
  /** 'file' or 'etcd': shown in status. */
  readonly kind: string;
  /** Takes `epoch` if nobody has: exactly one claimant wins. Throws SharedStorageError if the store cannot be reached. */
  claim(epoch: number, who: string, logListen?: string, options?: ClaimOptions): Promise<ClaimResult>;
  /** The highest epoch claimed and what its claim says. */
  current(): Promise<CurrentClaim>;
  /** The owner updates its own claim (where its logging channel listens, or that it stopped on purpose). */
  update(epoch: number, change: ClaimChange): Promise<void>;
  /** Kind and where, for status and logs. */
  describe(): Record<string, unknown>;
  /** The fencing token of an epoch this process won (on channel frames; a lower one is refused); 0 if none. */
  tokenOf(epoch: number): number;
  /** Declares `node` a member of `epoch` (the secondary the owner protects itself with), so it may claim the next. */
  declareMember(epoch: number, node: string): Promise<void>;
  /** Whether this node (by its name) was the primary of `epoch`: it may claim the next when that claim lapsed. */
  wasPrimaryOf(epoch: number): Promise<boolean>;
  /** performance.now() until which an owner alone may release outputs (its lease's own deadline); Infinity without leases. */
  releasableUntilMs(): number;
  /** `listener` hears of an epoch this process won and has lost for good (its claim lapsed and a later one was taken). */
  onEpochLost(listener: (epoch: number) => void): void;
  /** A pair node's arbiter starts here (etcd: its lease and keepalives, reachability logged through `log`). */
  start(log: (line: string) => void): Promise<void>;
  /** Stops background work (keepalives). */
  close(): void;
}
