// Who decides epochs, behind one interface with one file per store (as Patroni's dcs/): the
// replication code (claims on a peer's failure, ownership at start, rejoin) names only this. The
// file arbiter (claims in the shared --dir, O_EXCL: arbitration.ts) is the default for one host;
// the etcd arbiter (transactions on etcd's JSON gateway: etcd-arbiter.ts) needs no shared directory.
import type { ClaimRecord, ClaimResult, CurrentClaim } from './arbitration.js';

export type ClaimChange = Partial<Pick<ClaimRecord, 'logListen' | 'releasedAtMs'>>;

export interface Arbiter {
  /** 'file' or 'etcd': shown in status. */
  readonly kind: string;
  /** Takes `epoch` if nobody has: exactly one claimant wins. Throws SharedStorageError if the store cannot be reached. */
  claim(epoch: number, who: string, logListen?: string): Promise<ClaimResult>;
  /** The highest epoch claimed and what its claim says. */
  current(): Promise<CurrentClaim>;
  /** The owner updates its own claim (where its logging channel listens, or that it stopped on purpose). */
  update(epoch: number, change: ClaimChange): Promise<void>;
  /** Kind and where, for status and logs. */
  describe(): Record<string, unknown>;
}
