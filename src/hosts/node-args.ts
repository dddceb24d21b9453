// The one place that says how a node on a testbed host is started: its command line. Nodes reach
// etcd at every member's address, serve on their host's address, and keep their data in --dir.
import { join } from 'node:path';
import type { Host } from './network.js';

export interface HostNodeSpec {
  startedAs: 'primary' | 'secondary';
  /** Unique in the pair (a fresh node on a host where a fenced one still runs must not share its files). */
  nodeName: string;
  program: string;
  host: Host;
  port: number;
  logPort: number;
  /** For a secondary: the primary's logging channel, ADDRESS:PORT. */
  primaryLogListen?: string;
  /** etcd://ADDRESS:PORT,... */
  arbiterUrl: string;
  arbiterPrefix: string;
  /** This pair's directory (one per lineage); each node's --dir is in it. */
  pairDir: string;
  /** Timing and other flags every node of the run gets. */
  flags: string[];
}

/**
 * Until each node has a --dir of its own (with --secret-file and a storage replica), the pair's
 * nodes share one directory for the guest's files and the channel secret; claims go to etcd.
 * Nothing shared: `--dir join(pairDir, nodeName)` plus `--secret-file join(pairDir, 'secret')` (a
 * file made once per pair with `lockstep secret`; both hosts hold a copy on real machines).
 */
function storageArgs(spec: HostNodeSpec): string[] {
  return ['--dir', join(spec.pairDir, 'shared')];
}

export function hostNodeArgs(spec: HostNodeSpec): string[] {
  const where = ['--host', spec.host.address, '--port', String(spec.port), '--log-listen', `${spec.host.address}:${spec.logPort}`];
  const follow = spec.startedAs === 'secondary' ? ['--primary', `ws://${spec.primaryLogListen!}`] : [];
  const arbiter = ['--arbiter', spec.arbiterUrl, '--arbiter-prefix', spec.arbiterPrefix];
  return [spec.startedAs, spec.program, ...where, ...follow, ...storageArgs(spec), ...arbiter, ...spec.flags];
}
