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
  /** The pair's channel secret (`lockstep secret`): both hosts hold a copy on real machines. */
  secretFile: string;
  /** Timing and other flags every node of the run gets. */
  flags: string[];
}

/** Nothing shared on disk: each node its own --dir (its name is kept there, so a restart is the same node). */
function storageArgs(spec: HostNodeSpec): string[] {
  return ['--dir', join(spec.pairDir, spec.nodeName), '--secret-file', spec.secretFile];
}

export function hostNodeArgs(spec: HostNodeSpec): string[] {
  const where = ['--host', spec.host.address, '--port', String(spec.port), '--log-listen', `${spec.host.address}:${spec.logPort}`];
  const follow = spec.startedAs === 'secondary' ? ['--primary', `ws://${spec.primaryLogListen!}`] : [];
  const arbiter = ['--arbiter', spec.arbiterUrl, '--arbiter-prefix', spec.arbiterPrefix];
  return [spec.startedAs, spec.program, ...where, ...follow, ...storageArgs(spec), ...arbiter, ...spec.flags];
}
