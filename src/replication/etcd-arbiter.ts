// The etcd arbiter (--arbiter etcd://HOST:PORT[,...]): epochs are decided by etcd transactions
// instead of O_EXCL files, so two hosts need no shared directory to agree on who owns an epoch.
// Keys, under --arbiter-prefix (default `lockstep`):
//   <prefix>/claims/epoch-<N, 12 digits>  the claim of epoch N: the same ClaimRecord JSON as a claim file
//   <prefix>/epoch                        the high-water mark: the highest epoch ever claimed (12 digits)
// A claim of N is one transaction: if the claim key was never created (create revision 0) and the
// high-water mark is below N, create the claim and raise the mark; otherwise read both, so the
// loser learns the owner from the same reply. The revision that created a claim is its fencing
// token (shown in status; carrying it on frames and acks is a later step of issue 21). The current
// epoch is the highest claim key, or the mark if it is higher (that claim's owner is then unknown).
//
// Leases: claims are NOT bound to an etcd lease yet, and nothing here computes a keepalive deadline.
// A claim is as permanent as a claim file, so the etcd arbiter decides exactly what the file
// arbiter decides, no more. Binding a claim to a lease only pays once something treats the lease's
// expiry as the owner's death (a restarted node claiming without --takeover), and that also needs a
// lone primary to stop releasing before its lease can expire (its own deadline from its last
// successful keepalive, since a failed keepalive is not a fence). Until both exist a lease would only
// make the owner's record (where its channel listens) vanish under a live owner. The high-water key
// is already written in every claim so that, once claims are leased, an expired claim can never let
// an epoch at or below the mark be claimed again.
import { hostname } from 'node:os';
import { NODE_ID, type ClaimRecord, type ClaimResult, type CurrentClaim } from './arbitration.js';
import type { Arbiter, ClaimChange } from './arbiter.js';
import { EtcdGateway, parseEtcdUrl, type EtcdKeyValue, type EtcdTiming } from './etcd-gateway.js';
import { UsageError } from '../errors.js';
import { SharedStorageError } from './errors.js';
import { assert } from '../assert.js';

export const ARBITER_PREFIX_DEFAULT = 'lockstep';
/** Epochs are zero-padded to this many digits, so etcd's key order is the epochs' order. */
const EPOCH_DIGITS = 12;

export interface EtcdClaimOutcome {
  result: ClaimResult;
  /** The claim's record: ours when won, the owner's when lost (undefined if the epoch was never claimed: a higher one was). */
  owner: ClaimRecord | undefined;
  /** The highest epoch claimed, as the same reply saw it. */
  highestEpoch: number;
}

function pad(epoch: number): string {
  assert(Number.isInteger(epoch) && epoch >= 0 && epoch < 10 ** EPOCH_DIGITS, `epoch ${epoch} out of range`);
  return String(epoch).padStart(EPOCH_DIGITS, '0');
}

/** A prefix is a plain key path: letters, digits, . _ - and inner slashes. */
export function checkArbiterPrefix(prefix: string): string {
  if (!/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/.test(prefix)) {
    throw new UsageError(`--arbiter-prefix: '${prefix}' is not a key path (letters, digits, '.', '_', '-', inner '/'; e.g. lockstep or shop/orders).`);
  }
  return prefix;
}

export class EtcdArbiter implements Arbiter {
  readonly kind = 'etcd';
  private readonly gateway: EtcdGateway;
  /** Epochs this process won, with the revision that created each claim (its fencing token). */
  private readonly won = new Map<number, number>();
  private highWaterReady = false;

  constructor(url: string, readonly prefix = ARBITER_PREFIX_DEFAULT, timing?: EtcdTiming) {
    this.gateway = new EtcdGateway(parseEtcdUrl(url), timing);
    checkArbiterPrefix(prefix);
  }

  private claimKey(epoch: number): string {
    return `${this.prefix}/claims/epoch-${pad(epoch)}`;
  }

  private get highWaterKey(): string {
    return `${this.prefix}/epoch`;
  }

  async claim(epoch: number, who: string, logListen?: string): Promise<ClaimResult> {
    return (await this.claimEpoch(epoch, who, logListen)).result;
  }

  /** The claim, with what the same transaction saw: the owner's record and the highest epoch. */
  async claimEpoch(epoch: number, who: string, logListen?: string): Promise<EtcdClaimOutcome> {
    await this.ensureHighWater();
    const key = this.claimKey(epoch);
    const record: ClaimRecord = { nodeId: NODE_ID, who, pid: process.pid, host: hostname(), atMs: Date.now(), logListen };
    const value = JSON.stringify(record);
    const reply = await this.gateway.txn(
      [
        { key, target: 'CREATE', result: 'EQUAL', createRevision: 0 },
        { key: this.highWaterKey, target: 'VALUE', result: 'LESS', value: pad(epoch) },
      ],
      [{ put: { key, value } }, { put: { key: this.highWaterKey, value: pad(epoch) } }],
      [{ range: { key } }, { range: { key: this.highWaterKey } }],
    );
    if (reply.succeeded) {
      this.won.set(epoch, reply.revision);
      return { result: 'won', owner: { ...record, revision: reply.revision }, highestEpoch: epoch };
    }
    const [claims, marks] = reply.ranges;
    const existing = claims[0];
    const highestEpoch = marks[0]?.value ? Number(marks[0].value) : -1;
    // The gateway retries a timed-out request on the next member, and the first try may have been
    // applied: a claim holding exactly our record is ours.
    if (existing && existing.value === value) {
      this.won.set(epoch, existing.createRevision);
      return { result: 'won', owner: { ...record, revision: existing.createRevision }, highestEpoch };
    }
    return { result: 'lost', owner: existing ? parseRecord(existing) : undefined, highestEpoch };
  }

  async current(): Promise<CurrentClaim> {
    // The mark first: a claim landing between the two reads shows up in the second, never the reverse.
    const mark = await this.gateway.get(this.highWaterKey);
    const marked = mark?.value ? Number(mark.value) : -1;
    const [newest] = await this.gateway.rangePrefixDescending(`${this.prefix}/claims/epoch-`, 1);
    // A mark above every claim key (a claim deleted by hand; an expired one, once claims are leased):
    // that epoch was claimed, its owner is unknown (treated as alive), and only the next can be claimed.
    if (!newest) return { epoch: marked, record: undefined };
    const match = /\/epoch-(\d+)$/.exec(newest.key);
    if (!match) throw new SharedStorageError(`etcd key ${newest.key} under the claims prefix is not a claim: something else writes under --arbiter-prefix ${this.prefix}; give this pair a prefix of its own.`);
    const epoch = Number(match[1]);
    if (marked > epoch) return { epoch: marked, record: undefined };
    return { epoch, record: parseRecord(newest) };
  }

  async update(epoch: number, change: ClaimChange): Promise<void> {
    const key = this.claimKey(epoch);
    const claim = await this.gateway.get(key);
    if (!claim) return;
    const record = parseRecord(claim);
    const mine = this.won.get(epoch) ?? (record?.nodeId === NODE_ID ? claim.createRevision : undefined);
    if (mine === undefined || mine !== claim.createRevision || !record) return; // never touch another's claim
    const { revision: _token, ...stored } = record;
    // Compared on the create revision: should the key ever be another's claim, this writes nothing.
    await this.gateway.txn([{ key, target: 'CREATE', result: 'EQUAL', createRevision: mine }], [{ put: { key, value: JSON.stringify({ ...stored, ...change }) } }], []);
  }

  describe(): Record<string, unknown> {
    const epochs = [...this.won.keys()];
    const epoch = epochs.length > 0 ? Math.max(...epochs) : undefined;
    return {
      kind: this.kind,
      endpoints: this.gateway.endpoints.map((e) => e.replace(/^http:\/\//, '')).join(','),
      prefix: this.prefix,
      ...(epoch === undefined ? {} : { wonEpoch: epoch, token: this.won.get(epoch) }),
    };
  }

  /** The high-water key exists (empty: below every epoch) before the first claim compares against it. */
  private async ensureHighWater(): Promise<void> {
    if (this.highWaterReady) return;
    await this.gateway.txn([{ key: this.highWaterKey, target: 'CREATE', result: 'EQUAL', createRevision: 0 }], [{ put: { key: this.highWaterKey, value: '' } }], []);
    this.highWaterReady = true;
  }
}

function parseRecord(kv: EtcdKeyValue): ClaimRecord | undefined {
  try {
    const record = JSON.parse(kv.value) as ClaimRecord;
    return typeof record === 'object' && record !== null && typeof record.nodeId === 'string' ? { ...record, revision: kv.createRevision } : undefined;
  } catch {
    return undefined; // not ours to read: the caller treats the owner as alive
  }
}
