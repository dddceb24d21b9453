// The two-host commands end to end: `lockstep chaos --hosts` prints SEED= first, injects network
// and etcd faults beside node faults and exits 0 with no violation, leaving no namespace behind;
// a run stopped by SIGTERM removes everything it made; `lockstep demo --hosts` cuts the hosts
// apart under load, heals, and finds nothing lost.
import { describe, expect, it } from 'vitest';
import { NAME_PREFIX } from '../../src/hosts/names.js';
import { ourNamespaces } from '../../src/hosts/sweep.js';
import { spawnSync } from 'node:child_process';
import { Proc, waitUntil } from '../replication/helpers.js';
import { hostsOrSkip, processGone } from './hosts-setup.js';

const usable = await hostsOrSkip();

/** Namespaces of runs made by `proc` (their names carry its pid). */
async function namespacesOf(proc: Proc): Promise<string[]> {
  return (await ourNamespaces()).filter((ns) => ns.startsWith(`${NAME_PREFIX}-${proc.pid.toString(36)}-`));
}

describe.skipIf(!usable)('the two-host commands', () => {
  it('lockstep chaos --hosts: network and etcd faults, no violation, nothing left behind', { timeout: 120_000 }, async () => {
    const kinds = 'net-cut,net-cut-one-way,net-cut-etcd-primary,net-cut-etcd-secondary,etcd-leader-kill,kill-primary';
    const chaos = new Proc('chaos --hosts', ['chaos', '--hosts', '--seed', '2121', '--faults', '6', '--fault-kinds', kinds, '--failure-timeout-ms', '1000', '--program', 'guest-programs/counter.js']);
    const exit = await chaos.waitExit(110_000);
    expect(chaos.stdout.split('\n')[0]).toBe('SEED=2121');
    expect(chaos.stdout, chaos.stderr).toMatch(/violations: 0 correctness, 0 liveness\nRESULT: ok \(exit 0\)/);
    expect(chaos.stdout).toMatch(/hosts: nodes on 10\.232\.0\.1 and 10\.232\.0\.2/);
    expect(exit.code).toBe(0);
    expect(await namespacesOf(chaos)).toEqual([]);
  });

  it('a chaos --hosts run stopped by SIGTERM removes its namespaces and every process in them', { timeout: 120_000 }, async () => {
    const chaos = new Proc('chaos --hosts (stopped)', ['chaos', '--hosts', '--seed', '2122', '--faults', '100', '--failure-timeout-ms', '1000', '--program', 'guest-programs/counter.js']);
    await chaos.waitFor(/^fault 1\/100 /m, 90_000);
    const made = await namespacesOf(chaos);
    expect(made.length).toBeGreaterThan(0);
    const pids = made.flatMap((ns) => spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean).map(Number));
    expect(pids.length, 'etcd members, nodes and the gateway run inside the namespaces').toBeGreaterThan(3);
    chaos.signal('SIGTERM');
    expect((await chaos.waitExit(30_000)).code).toBe(22);
    expect(await namespacesOf(chaos)).toEqual([]);
    for (const pid of pids) await waitUntil(() => processGone(pid), 10_000, `pid ${pid} gone`);
  });

  it('lockstep demo --hosts: a partition under load heals with nothing lost', { timeout: 120_000 }, async () => {
    const demo = new Proc('demo --hosts', ['demo', '--hosts', '--program', 'guest-programs/counter.js', '--duration', '8s', '--kill-after', '2s', '--cut-for', '3s', '--rate', '50', '--failure-timeout-ms', '1000']);
    const exit = await demo.waitExit(110_000);
    expect(demo.stdout, demo.stderr).toMatch(/RESULT: OK -- the hosts were cut apart mid-load and healed/);
    expect(demo.stdout).toMatch(/won epoch [1-9]\d* in etcd and serves; the other rejoined it/);
    expect(exit.code).toBe(0);
    expect(await namespacesOf(demo)).toEqual([]);
  });
});
