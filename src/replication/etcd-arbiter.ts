// The etcd arbiter (--arbiter etcd://HOST:PORT[,...]): epochs are decided by etcd transactions
// instead of O_EXCL files, so two hosts need no shared directory to agree on who owns an epoch.
// Keys, under --arbiter-prefix (default `lockstep`):
//   <prefix>/claims/epoch-<N, 12 digits>          the claim of epoch N: the ClaimRecord JSON, bound to the owner's lease
//   <prefix>/epoch                                 the high-water mark: the highest epoch ever claimed (never leased)
//   <prefix>/members/epoch-<N>/<node name>         who belongs to epoch N: its primary, and the secondary it declared
// A claim of N is one transaction: if the claim key was never created (create revision 0), the mark
// is below N and (for a failover) the claimant is a member of N-1, create the claim, raise the mark
// and record the claimant as N's primary; otherwise read them, so the loser learns the owner from the
// same reply. The revision of that transaction (the mark's mod revision) is the epoch's fencing
// token: it travels on the channel's welcome, batches and acks, and a lower one is refused.
//
// Leases: a claim lives as long as its owner's lease. The owner keeps it alive every TTL/3; a failed
// keepalive is not a fence, but the owner computes its own deadline from the send time of its last
// successful keepalive (the lease cannot expire before that + TTL) and, while alone, releases nothing
// past `releasableUntilMs()` (0.8 TTL after it). An expired claim (the key gone, the mark still N)
// therefore means its owner has stopped releasing: the node that was N's primary may claim N+1 when
// it restarts (its files are the freshest), and --takeover waits for the expiry. The mark is never
// leased, so an expired epoch is never claimed twice. etcd resets TTLs on a leader change (expiry
// late, never early), which only delays that.
import { performance } from 'node:perf_hooks';
import { newRecord, NODE_ID, type ClaimRecord, type ClaimResult, type CurrentClaim } from './arbitration.js';
import type { Arbiter, ClaimChange, ClaimOptions } from './arbiter.js';
import { EtcdGateway, parseEtcdUrl, type EtcdCompare, type EtcdKeyValue, type EtcdTiming } from './etcd-gateway.js';
import { UsageError } from '../errors.js';
import { SharedStorageError } from './errors.js';
import { assert } from '../assert.js';

export const ARBITER_PREFIX_DEFAULT = 'lockstep';
/** The lease a claim is bound to; see README "Two machines" for what it must satisfy. */
export const ARBITER_LEASE_TTL_MS_DEFAULT = 6000;
/** etcd refuses a TTL below 1.5x its election timeout (1 s by default) and rounds to whole seconds. */
export const ARBITER_LEASE_TTL_MS_MIN = 2000;
/** A lone owner releases nothing past this fraction of the TTL after its last successful keepalive was sent. */
export const LEASE_RELEASE_FRACTION = 0.8;
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
  /** Epochs this process won, with their fencing tokens. */
  private readonly won = new Map<number, number>();
  private highWaterReady = false;
  private lease: { id: string; ttlMs: number } | undefined;
  /** performance.now() until which the lease certainly holds (less a margin); 0 before the first. */
  private leaseValidUntilMs = 0;
  private keepaliveTimer: NodeJS.Timeout | undefined;
  private keepaliveFailures = 0;
  private closed = false;
  private log: ((line: string) => void) | undefined;
  private readonly lostListeners: Array<(epoch: number) => void> = [];
  /** Where our logging channel listens, for a claim written again. */
  private lastLogListen: string | undefined;

  readonly node: string;
  private readonly leaseTtlMs: number;

  constructor(url: string, readonly prefix = ARBITER_PREFIX_DEFAULT, timing?: EtcdTiming, identity: { node?: string; leaseTtlMs?: number } = {}) {
    this.gateway = new EtcdGateway(parseEtcdUrl(url), timing);
    this.node = identity.node ?? '';
    const leaseTtlMs = (this.leaseTtlMs = identity.leaseTtlMs ?? ARBITER_LEASE_TTL_MS_DEFAULT);
    checkArbiterPrefix(prefix);
    if (leaseTtlMs < ARBITER_LEASE_TTL_MS_MIN) throw new UsageError(`--arbiter-lease-ms ${leaseTtlMs} is below ${ARBITER_LEASE_TTL_MS_MIN} (etcd's minimum lease is 1.5x its election timeout).`);
  }

  private claimKey(epoch: number): string {
    return `${this.prefix}/claims/epoch-${pad(epoch)}`;
  }

  private memberKey(epoch: number, node: string): string {
    return `${this.prefix}/members/epoch-${pad(epoch)}/${node}`;
  }

  private get highWaterKey(): string {
    return `${this.prefix}/epoch`;
  }

  async claim(epoch: number, who: string, logListen?: string, options: ClaimOptions = {}): Promise<ClaimResult> {
    return (await this.claimEpoch(epoch, who, logListen, options)).result;
  }

  /** The claim, with what the same transaction saw: the owner's record and the highest epoch. */
  async claimEpoch(epoch: number, who: string, logListen?: string, options: ClaimOptions = {}): Promise<EtcdClaimOutcome> {
    await this.ensureHighWater();
    const lease = await this.ensureLease();
    const key = this.claimKey(epoch);
    const record = newRecord(who, logListen, this.node);
    const value = JSON.stringify(record);
    const compare: EtcdCompare[] = [
      { key, target: 'CREATE', result: 'EQUAL', createRevision: 0 },
      { key: this.highWaterKey, target: 'VALUE', result: 'LESS', value: pad(epoch) },
    ];
    // Only a member of the epoch before may take over from it (not a stranger sharing the prefix).
    if (options.asMember && epoch > 0) compare.push({ key: this.memberKey(epoch - 1, this.node), target: 'CREATE', result: 'GREATER', createRevision: 0 });
    const reply = await this.gateway.txn(
      compare,
      [{ put: { key, value, lease: lease.id } }, { put: { key: this.highWaterKey, value: pad(epoch) } }, { put: { key: this.memberKey(epoch, this.node), value: 'primary' } }],
      [{ range: { key } }, { range: { key: this.highWaterKey } }],
    );
    if (reply.succeeded) {
      this.won.set(epoch, reply.revision);
      return { result: 'won', owner: { ...record, revision: reply.revision }, highestEpoch: epoch };
    }
    const [claims, marks] = reply.ranges;
    const existing = claims[0];
    const mark = marks[0];
    const highestEpoch = mark?.value ? Number(mark.value) : -1;
    // The gateway retries a timed-out request on the next member, and the first try may have been
    // applied: a claim holding exactly our record is ours (its token: the mark's revision then).
    if (existing && existing.value === value) {
      const token = highestEpoch === epoch && mark ? mark.modRevision : existing.createRevision;
      this.won.set(epoch, token);
      return { result: 'won', owner: { ...record, revision: token }, highestEpoch };
    }
    return { result: 'lost', owner: existing ? parseRecord(existing) : undefined, highestEpoch };
  }

  async current(): Promise<CurrentClaim> {
    // The mark first: a claim landing between the two reads shows up in the second, never the reverse.
    const mark = await this.gateway.get(this.highWaterKey);
    const marked = mark?.value ? Number(mark.value) : -1;
    const [newest] = await this.gateway.rangePrefixDescending(`${this.prefix}/claims/epoch-`, 1);
    // A mark above every claim key: that epoch's claim expired with its owner's lease (or was deleted
    // by hand). Its owner stopped releasing; only the next epoch can be claimed.
    if (!newest) return marked >= 0 ? { epoch: marked, record: undefined, lapsed: true } : { epoch: marked, record: undefined };
    const match = /\/epoch-(\d+)$/.exec(newest.key);
    if (!match) throw new SharedStorageError(`etcd key ${newest.key} under the claims prefix is not a claim: something else writes under --arbiter-prefix ${this.prefix}; give this pair a prefix of its own.`);
    const epoch = Number(match[1]);
    if (marked > epoch) return { epoch: marked, record: undefined, lapsed: true };
    const record = parseRecord(newest);
    return { epoch, record: record && mark && marked === epoch ? { ...record, revision: mark.modRevision } : record };
  }

  async update(epoch: number, change: ClaimChange): Promise<void> {
    if (change.logListen) this.lastLogListen = change.logListen;
    const key = this.claimKey(epoch);
    const claim = await this.gateway.get(key);
    if (!claim) return;
    const record = parseRecord(claim);
    if (!this.won.has(epoch) || !record || record.nodeId !== NODE_ID) return; // never touch another's claim
    const { revision: _token, ...stored } = record;
    // Compared on the create revision: should the key ever be another's claim, this writes nothing.
    const lease = change.releasedAtMs !== undefined ? undefined : this.lease?.id;
    await this.gateway.txn([{ key, target: 'CREATE', result: 'EQUAL', createRevision: claim.createRevision }], [{ put: { key, value: JSON.stringify({ ...stored, ...change }), lease } }], []);
  }

  tokenOf(epoch: number): number {
    return this.won.get(epoch) ?? 0;
  }

  async declareMember(epoch: number, node: string): Promise<void> {
    if (!this.won.has(epoch) || !node) return;
    await this.gateway.txn([], [{ put: { key: this.memberKey(epoch, node), value: 'secondary' } }], []);
  }

  async wasPrimaryOf(epoch: number): Promise<boolean> {
    return (await this.gateway.get(this.memberKey(epoch, this.node)))?.value === 'primary';
  }

  releasableUntilMs(): number {
    return this.leaseValidUntilMs;
  }

  describe(): Record<string, unknown> {
    const epochs = [...this.won.keys()];
    const epoch = epochs.length > 0 ? Math.max(...epochs) : undefined;
    const leaseLeftMs = this.lease ? Math.round(this.leaseValidUntilMs - performance.now()) : null;
    return {
      kind: this.kind,
      endpoints: this.gateway.endpoints.map((e) => e.replace(/^http:\/\//, '')).join(','),
      prefix: this.prefix,
      node: this.node,
      reachable: this.lease ? this.keepaliveFailures === 0 : null,
      leaseTtlMs: this.leaseTtlMs,
      leaseLeftMs,
      ...(epoch === undefined ? {} : { wonEpoch: epoch, token: this.won.get(epoch) }),
    };
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.keepaliveTimer);
  }

  /** The high-water key exists (empty: below every epoch) before the first claim compares against it. */
  private async ensureHighWater(): Promise<void> {
    if (this.highWaterReady) return;
    await this.gateway.txn([{ key: this.highWaterKey, target: 'CREATE', result: 'EQUAL', createRevision: 0 }], [{ put: { key: this.highWaterKey, value: '' } }], []);
    this.highWaterReady = true;
  }

  /** This process's lease (granted at start, or at its first claim), kept alive from then on. */
  private async ensureLease(): Promise<{ id: string; ttlMs: number }> {
    if (this.lease) return this.lease;
    const { lease, validUntilMs } = await this.grantLease();
    this.leaseValidUntilMs = validUntilMs;
    this.scheduleKeepalive();
    return lease;
  }

  /** A new lease becomes ours; until when it certainly holds, counted from the moment it was asked for. */
  private async grantLease(): Promise<{ lease: { id: string; ttlMs: number }; validUntilMs: number }> {
    const sentMs = performance.now();
    const granted = await this.gateway.leaseGrant(Math.ceil(this.leaseTtlMs / 1000));
    this.lease = { id: granted.id, ttlMs: granted.ttlS * 1000 };
    return { lease: this.lease, validUntilMs: sentMs + this.lease.ttlMs * LEASE_RELEASE_FRACTION };
  }

  private scheduleKeepalive(): void {
    if (this.closed || !this.lease) return;
    this.keepaliveTimer = setTimeout(() => void this.keepalive(), this.lease.ttlMs / 3);
    this.keepaliveTimer.unref();
  }

  /** One keepalive; the deadline moves only on success, from the moment it was sent. A lost lease is replaced. */
  private async keepalive(): Promise<void> {
    const lease = this.lease!;
    const sentMs = performance.now();
    try {
      const ttlS = await this.gateway.leaseKeepAlive(lease.id);
      if (ttlS > 0 && this.leaseValidUntilMs > 0) {
        this.leaseValidUntilMs = sentMs + ttlS * 1000 * LEASE_RELEASE_FRACTION;
      } else {
        await this.replaceLostLease();
      }
    } catch (error) {
      if (this.keepaliveFailures++ === 0) {
        this.log?.(`etcd does not answer (${error instanceof Error ? error.message.split('. ')[0] : error}): no failover is possible until it does, and alone this node releases nothing past its lease deadline`);
      }
      this.scheduleKeepalive();
      return;
    }
    if (this.keepaliveFailures > 0) this.log?.(`etcd answers again (after ${this.keepaliveFailures} failed keepalives)`);
    this.keepaliveFailures = 0;
    this.scheduleKeepalive();
  }

  /** A pair node holds a lease from the start: its reachability shows in status, and a failover claim needs no grant first. */
  async start(log: (line: string) => void): Promise<void> {
    this.log = log;
    await this.ensureLease();
  }

  /**
   * Our lease expired (etcd was out of reach longer than its TTL): our claims went with it, and we
   * release nothing until the newest epoch we won is ours again. It is, if the mark has not moved
   * (nobody can claim at or below it): its record is written again under a new lease (its token
   * stays). If the mark moved, a node (our own restart, after the claim lapsed) owns a later epoch:
   * this one is lost for good, and its listeners fence the node.
   */
  private async replaceLostLease(): Promise<void> {
    this.leaseValidUntilMs = 0;
    const { lease, validUntilMs } = await this.grantLease();
    const epochs = [...this.won.keys()];
    if (epochs.length === 0) {
      this.leaseValidUntilMs = validUntilMs; // nothing was bound to it
      return;
    }
    const epoch = Math.max(...epochs);
    const key = this.claimKey(epoch);
    const record = newRecord('owner (claim renewed after its lease expired)', this.lastLogListen, this.node);
    const reply = await this.gateway.txn(
      [{ key, target: 'CREATE', result: 'EQUAL', createRevision: 0 }, { key: this.highWaterKey, target: 'VALUE', result: 'EQUAL', value: pad(epoch) }],
      [{ put: { key, value: JSON.stringify(record), lease: lease.id } }],
      [],
    );
    if (reply.succeeded) {
      this.leaseValidUntilMs = validUntilMs;
      return;
    }
    this.close(); // nothing more to keep alive
    for (const listener of this.lostListeners) listener(epoch);
  }

  onEpochLost(listener: (epoch: number) => void): void {
    this.lostListeners.push(listener);
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
