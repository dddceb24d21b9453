// The two-host testbed's operating errors: the machine cannot host it, or a step of building it failed.
import { LockstepError } from '../errors.js';

/** Exit code of `lockstep chaos --hosts` and `lockstep demo --hosts` when the machine cannot host namespaces. */
export const HOSTS_UNAVAILABLE_EXIT = 23;

export class HostsUnavailableError extends LockstepError {
  readonly code = 'LOCKSTEP_HOSTS_UNAVAILABLE';
  override readonly exitCode = HOSTS_UNAVAILABLE_EXIT;
  constructor(message: string) {
    super(`${message} Run it as root on Linux with iproute2, nftables and etcd (Debian: apt-get install -y nftables etcd-server), or leave out --hosts.`);
  }
}
