// Do the default heartbeat settings cause false failovers under full load? Runs a pair with the
// default --heartbeat-ms / --failure-timeout-ms, saturates the primary (CPU-bound guest, plus one
// handler per second that uses its whole CPU budget), and counts claims and fencings.
// Usage: npx tsx scripts/false-failover.ts [--seconds 60] [--concurrency 32] [--cpu-polls-max N]
// (--cpu-polls-max raises both nodes' per-event CPU budget, so that /burn holds the loop longer: ~1 s at 8000.)
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runLoad } from '../src/client/load-client.js';
import { freePort, spawnNode, status, waitForStatus } from '../src/demo/processes.js';

const args = process.argv.slice(2);
const arg = (name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const seconds = arg('seconds', 60);
const concurrency = arg('concurrency', 32);
const cpuPollsMax = arg('cpu-polls-max', 0);
const budget = cpuPollsMax > 0 ? ['--cpu-polls-max', String(cpuPollsMax)] : [];

const dir = await mkdtemp(join(tmpdir(), 'lockstep-ff-'));
const [p, s, l] = await Promise.all([freePort(), freePort(), freePort()]);
const program = new URL('./false-failover-guest.js', import.meta.url).pathname;
const primary = spawnNode('primary', ['primary', program, '--port', String(p), '--log-listen', `127.0.0.1:${l}`, '--dir', dir, ...budget], p);
const secondary = spawnNode('secondary', ['secondary', program, '--port', String(s), '--primary', `ws://127.0.0.1:${l}`, '--dir', dir, ...budget], s);
try {
  await waitForStatus(primary, (x) => x.protection === 'protected', 15_000, 'protected');
  let maxRtt = 0;
  let samples = 0;
  const sampler = setInterval(async () => {
    try {
      const st = await status(primary);
      samples++;
      if (typeof st.heartbeatRttMs === 'number') maxRtt = Math.max(maxRtt, st.heartbeatRttMs);
    } catch {}
  }, 250);
  const summary = await runLoad({
    targets: [primary.url, secondary.url],
    rate: 0,
    concurrency,
    durationMs: seconds * 1000,
    workload: (i) => (i % 200 === 0 ? { method: 'GET', path: '/burn' } : { method: 'GET', path: '/' }),
  });
  clearInterval(sampler);
  // epoch-0 is the first primary's own claim at start; every later epoch is a failover.
  const claims = (await readdir(join(dir, 'claims'))).filter((name) => /^epoch-\d+$/.test(name) && name !== 'epoch-0');
  const st = await status(primary).catch(() => ({ role: 'gone' }));
  console.log(`machine load average: ${(await import('node:os')).loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  console.log(`${seconds} s of full load, concurrency ${concurrency}: ${summary.answered} answers (${summary.answersPerS.toFixed(0)}/s), status codes ${JSON.stringify(summary.statusCounts)}`);
  console.log(`default heartbeat settings, ${cpuPollsMax > 0 ? `--cpu-polls-max ${cpuPollsMax}` : 'default CPU budget'}; max heartbeat RTT seen ${maxRtt.toFixed(1)} ms over ${samples} samples`);
  console.log(`failover claims made: ${claims.length} (${claims.join(', ') || 'none'}); primary role at the end: ${(st as any).role}, protection ${(st as any).protection}`);
  console.log(claims.length === 0 ? 'RESULT: no false failover' : 'RESULT: FALSE FAILOVER');
  process.exitCode = claims.length === 0 ? 0 : 1;
} finally {
  primary.kill();
  secondary.kill();
  await rm(dir, { recursive: true, force: true });
}
