// Injecting one scheduled fault into the running lineage: signals to a node, a mode of the logging
// link's proxy, a full disk, and on a namespace testbed firewall cuts and etcd leader kills. Resolves when the fault is healed (a kill heals at once; a restart
// kind also restarts the node with its original command, as a supervisor would).
import type { DiskFault } from './disk-fault.js';
import type { FaultRecord } from './history.js';
import type { ChaosNode, Lineage } from './lineage.js';
import type { ScheduledFault } from './schedule.js';

export interface FaultContext {
  lineage: Lineage;
  disk: DiskFault | undefined;
  primary: ChaosNode;
  secondary: ChaosNode;
  now(): number;
  /** Resolves once some node other than `not` reports role primary (or after `timeoutMs`). */
  waitForOtherPrimary(not: ChaosNode, timeoutMs: number): Promise<boolean>;
  /** Resolves once `primary` no longer reports protected (or after `timeoutMs`). */
  waitUnprotected(primary: ChaosNode, timeoutMs: number): Promise<boolean>;
  failureTimeoutMs: number;
  /** The testbed's network and etcd (lockstep chaos --hosts); host faults are scheduled only with it. */
  hosts?: HostFaults;
}

/** What a namespace testbed can do to the network between hosts and to etcd. */
export interface HostFaults {
  /** Drops packets from `from`'s host to `to`'s host (and back, with 'both'); false when both share a host. */
  cutNodes(from: ChaosNode, to: ChaosNode, direction: 'both' | 'outgoing'): Promise<boolean>;
  /** Cuts `node`'s host off from every etcd member. */
  cutFromEtcd(node: ChaosNode): Promise<void>;
  /** Removes every cut. */
  heal(): Promise<void>;
  /** SIGKILLs etcd's current leader; resolves with its name. */
  killEtcdLeader(): Promise<string>;
  /** Restarts every killed etcd member; resolves once the cluster is healthy. */
  restartEtcd(): Promise<void>;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function inject(fault: ScheduledFault, c: FaultContext): Promise<FaultRecord> {
  const hitsPrimary = fault.kind.endsWith('-primary') && !fault.kind.startsWith('link');
  const target = hitsPrimary ? c.primary : c.secondary;
  const record: FaultRecord = { index: fault.index, kind: fault.kind, node: target.record.id, startMs: c.now(), healMs: 0, reprotectedMs: null, gapMs: 0, notes: [] };
  const settleMs = c.failureTimeoutMs * 3 + 2000;
  switch (fault.kind) {
    case 'kill-primary':
    case 'kill-secondary':
      c.lineage.signal(target, 'SIGKILL');
      break;
    case 'restart-primary': {
      c.lineage.signal(target, 'SIGKILL');
      // The supervisor notices the death a little later; by then the secondary has normally gone live.
      if (!(await c.waitForOtherPrimary(target, settleMs))) record.notes.push('no other node became primary before the restart');
      await waitExit(target, 2000);
      const restarted = await c.lineage.restart(target);
      record.notes.push(`restarted ${target.record.id} with its original command as ${restarted.record.id}${restarted.alive ? '' : ` (it exited: code ${restarted.record.exitCode})`}`);
      break;
    }
    case 'restart-secondary': {
      c.lineage.signal(target, 'SIGKILL');
      if (!(await c.waitUnprotected(c.primary, settleMs))) record.notes.push('the primary still reported protected before the restart');
      await waitExit(target, 2000);
      const restarted = await c.lineage.restart(target);
      record.notes.push(`restarted ${target.record.id} with its original command as ${restarted.record.id}${restarted.alive ? '' : ` (it exited: code ${restarted.record.exitCode})`}`);
      break;
    }
    case 'stop-primary':
    case 'stop-secondary':
      c.lineage.signal(target, 'SIGSTOP');
      await sleep(fault.durationMs);
      c.lineage.signal(target, 'SIGCONT');
      break;
    case 'link-cut':
    case 'link-blackhole':
    case 'link-slow': {
      const proxy = c.secondary.proxy;
      record.node = c.secondary.record.id;
      if (!proxy) {
        record.notes.push(`${c.secondary.record.id} follows its primary without a proxy (a node that joined by itself): no link fault`);
        break;
      }
      proxy.set(fault.kind === 'link-cut' ? { kind: 'cut' } : fault.kind === 'link-blackhole' ? { kind: 'blackhole' } : { kind: 'slow', delayMs: fault.delayMs });
      await sleep(fault.durationMs);
      proxy.heal();
      break;
    }
    case 'blackhole-kill-primary': {
      // What the primary sent while the link held it dies with the primary (as unacknowledged TCP
      // segments do with their sender): with the output rule, no answer depended on it.
      const proxy = c.secondary.proxy;
      if (!proxy) {
        record.notes.push(`${c.secondary.record.id} follows its primary without a proxy: the primary is killed without the blackhole`);
        c.lineage.signal(target, 'SIGKILL');
        break;
      }
      proxy.set({ kind: 'blackhole' });
      await sleep(fault.durationMs);
      c.lineage.signal(target, 'SIGKILL');
      await waitExit(target, 2000);
      proxy.set({ kind: 'cut' });
      await sleep(50);
      proxy.heal();
      break;
    }
    case 'disk-full':
      if (!c.disk) throw new Error('disk-full scheduled without a disk to fill');
      record.node = 'disk';
      await c.disk.fill();
      await sleep(fault.durationMs);
      await c.disk.free();
      break;
    case 'net-cut':
    case 'net-cut-one-way':
    case 'net-cut-etcd-primary':
    case 'net-cut-etcd-secondary':
    case 'etcd-leader-kill':
      await injectHostFault(fault, c, record);
      break;
    default: {
      const never: never = fault.kind;
      throw new Error(`unknown fault kind ${never}`);
    }
  }
  record.healMs = c.now();
  return record;
}

/** A fault of the network between hosts or of etcd, held for its duration, then healed. */
async function injectHostFault(fault: ScheduledFault, c: FaultContext, record: FaultRecord): Promise<void> {
  const hosts = c.hosts;
  if (!hosts) throw new Error(`${fault.kind} scheduled without a namespace testbed (--hosts)`);
  const [from, to] = fault.from === 'secondary' ? [c.secondary, c.primary] : [c.primary, c.secondary];
  switch (fault.kind) {
    case 'net-cut':
    case 'net-cut-one-way': {
      record.node = from.record.id;
      const cut = await hosts.cutNodes(from, to, fault.kind === 'net-cut' ? 'both' : 'outgoing');
      if (!cut) record.notes.push(`${from.record.id} and ${to.record.id} share a host: nothing to cut`);
      else if (fault.kind === 'net-cut-one-way') record.notes.push(`packets from ${from.record.id} to ${to.record.id} dropped`);
      break;
    }
    case 'net-cut-etcd-primary':
    case 'net-cut-etcd-secondary':
      await hosts.cutFromEtcd(fault.kind === 'net-cut-etcd-primary' ? c.primary : c.secondary);
      break;
    case 'etcd-leader-kill':
      record.node = `etcd:${await hosts.killEtcdLeader()}`;
      break;
    default:
      throw new Error(`${fault.kind} is not a host fault`);
  }
  await sleep(fault.durationMs);
  if (fault.kind === 'etcd-leader-kill') await hosts.restartEtcd();
  else await hosts.heal();
}

async function waitExit(node: ChaosNode, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (node.alive && Date.now() < deadline) await sleep(10);
}
