// The testbed itself: a two-way cut drops packets both ways between two hosts, a one-way cut only
// what one host sends, healing restores both; a run whose process is SIGKILLed leaves namespaces
// and processes that the next testbed sweeps away; `lockstep chaos --hosts` without root exits 23.
import { spawn, spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ourNamespaces, sweepCrashedRuns } from '../../src/hosts/sweep.js';
import type { NodeHostName } from '../../src/hosts/testbed.js';
import { BIN, ROOT, waitUntil } from '../replication/helpers.js';
import { testbedOrSkip, processGone } from './hosts-setup.js';

const testbed = await testbedOrSkip();
const PORT = 9999;
/** The unprivileged run needs a user 'nobody' that can read the checkout (not so under /root, say). */
const nobodyCanRun = spawnSync('runuser', ['-u', 'nobody', '--', process.execPath, '-e', `require('node:fs').accessSync(${JSON.stringify(BIN)})`]).status === 0;

/** Sends one UDP datagram from host `from` to host `to` and says whether it arrived. */
function datagramArrives(from: NodeHostName, to: NodeHostName): boolean {
  const [src, dst] = [testbed!.host(from), testbed!.host(to)];
  const script = `
    const dgram = require('node:dgram');
    const rx = dgram.createSocket('udp4');
    rx.on('message', () => { console.log('arrived'); process.exit(0); });
    rx.bind(${PORT}, '${dst.address}', () => {
      require('node:child_process').execFileSync('ip', ['netns', 'exec', '${src.ns}', process.execPath, '-e',
        "require('node:dgram').createSocket('udp4').send('x', ${PORT}, '${dst.address}', () => process.exit(0))"]);
      setTimeout(() => { console.log('lost'); process.exit(0); }, 1000);
    });`;
  const result = spawnSync('ip', ['netns', 'exec', dst.ns, process.execPath, '-e', script], { encoding: 'utf8', timeout: 20_000 });
  if (!/arrived|lost/.test(result.stdout)) throw new Error(`the datagram probe failed: ${result.stdout} ${result.stderr}`);
  return result.stdout.includes('arrived');
}

describe.skipIf(!testbed)('the two-host testbed', () => {
  it('cuts both ways, one way, and heals', async () => {
    expect([datagramArrives('a', 'b'), datagramArrives('b', 'a')]).toEqual([true, true]);
    await testbed!.cutNodes('a', 'b', 'both');
    expect([datagramArrives('a', 'b'), datagramArrives('b', 'a')]).toEqual([false, false]);
    await testbed!.heal();
    await testbed!.cutNodes('a', 'b', 'outgoing');
    expect([datagramArrives('a', 'b'), datagramArrives('b', 'a')]).toEqual([false, true]);
    await testbed!.heal();
    expect([datagramArrives('a', 'b'), datagramArrives('b', 'a')]).toEqual([true, true]);
  });

  it("sweeps a SIGKILLed run's namespaces and processes", { timeout: 90_000 }, async () => {
    const script = `import(${JSON.stringify(`${ROOT}/dist/hosts/testbed.js`)}).then(async (m) => {
      const t = await m.Testbed.create();
      console.log('READY ' + t.host('a').ns);
      setInterval(() => {}, 1000);
    });`;
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const ns = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /READY (\S+)/.exec(out);
        if (m) resolve(m[1]!);
      });
      child.once('exit', (code) => reject(new Error(`the testbed child exited (${code}) before it was ready: ${out}`)));
    });
    const runPrefix = ns.replace(/-a$/, '-');
    const made = (await ourNamespaces()).filter((n) => n.startsWith(runPrefix));
    expect(made).toContain(`${runPrefix}br`);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const left = (await ourNamespaces()).filter((n) => n.startsWith(runPrefix));
    expect(left.length, 'a SIGKILLed run leaves its namespaces (nothing ran its cleanup)').toBeGreaterThan(0);
    const etcdPids = spawnSync('ip', ['netns', 'pids', `${runPrefix}etcd1`], { encoding: 'utf8' }).stdout.trim();
    expect(etcdPids).not.toBe('');

    expect(await sweepCrashedRuns()).toBeGreaterThanOrEqual(left.length);
    expect((await ourNamespaces()).filter((n) => n.startsWith(runPrefix))).toEqual([]);
    for (const pid of etcdPids.split('\n').map(Number)) await waitUntil(() => processGone(pid), 10_000, `etcd pid ${pid} gone`);
    // This file's own testbed is alive and untouched.
    expect(await ourNamespaces()).toContain(testbed!.host('a').ns);
  });

  it.skipIf(!nobodyCanRun)('lockstep chaos --hosts without root: exit 23 with what to do', () => {
    const result = spawnSync('runuser', ['-u', 'nobody', '--', process.execPath, BIN, 'chaos', '--hosts', '--faults', '1'], { encoding: 'utf8', timeout: 30_000 });
    expect(result.status).toBe(23);
    expect(result.stderr).toMatch(/needs root.*LOCKSTEP_HOSTS_UNAVAILABLE/s);
  });
});
