// Partitions: nftables rules inside one host's namespace, as that host's own firewall would drop
// packets. A two-way cut drops what the host sends to and receives from the peers; a one-way cut
// drops only what it sends (the peers' packets still arrive). Healing removes every rule at once.
import { run } from './shell.js';
import type { Host } from './network.js';

const TABLE = 'lockstep_partition';

export type CutDirection = 'both' | 'outgoing';

export class Firewall {
  private installed = false;

  constructor(private readonly host: Host) {}

  private nft(script: string): Promise<string> {
    return run('ip', ['netns', 'exec', this.host.ns, 'nft', '-f', '-'], script);
  }

  private async install(): Promise<void> {
    if (this.installed) return;
    // Priority 0 on the filter hooks, policy accept: only the rules added by cut() drop anything.
    await this.nft(`table inet ${TABLE} {
  chain input { type filter hook input priority 0; policy accept; }
  chain output { type filter hook output priority 0; policy accept; }
}\n`);
    this.installed = true;
  }

  /** Drops packets between this host and `peers` (their addresses), both ways or outgoing only. */
  async cut(peers: Host[], direction: CutDirection): Promise<void> {
    if (peers.length === 0) return;
    await this.install();
    const set = `{ ${peers.map((p) => p.address).join(', ')} }`;
    const rules = [`add rule inet ${TABLE} output ip daddr ${set} drop`];
    if (direction === 'both') rules.push(`add rule inet ${TABLE} input ip saddr ${set} drop`);
    await this.nft(rules.join('\n') + '\n');
  }

  /** Removes every cut on this host. */
  async heal(): Promise<void> {
    if (!this.installed) return;
    await this.nft(`flush chain inet ${TABLE} input\nflush chain inet ${TABLE} output\n`);
  }

  /** The rules in force, for reports (nft's own listing). */
  async rules(): Promise<string> {
    return this.installed ? this.nft(`list table inet ${TABLE}\n`) : '';
  }
}
