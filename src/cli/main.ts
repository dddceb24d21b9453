// The `lockstep` command line: `main(argv)` returns an exit code; every command is a function in
// its own file that tests can import. Operating errors print their message and code, never a stack.
import { Command, CommanderError, Option } from 'commander';
import { LockstepError, UsageError } from '../errors.js';
import { logCommand } from './log-command.js';
import { loadCommand } from './load-command.js';
import { replayCommand } from './replay-command.js';
import { runCommand } from './run-command.js';
import { INSPECT_HELP, inspectCommand } from './inspect-command.js';
import { UPGRADE_CHECK_HELP, upgradeCheckCommand } from './upgrade-check-command.js';
import { demoCommand } from './demo-command.js';
import { CHAOS_HELP, chaosCommand, chaosFlagDefaults as chaos } from './chaos-command.js';
import { dashboardCommand } from './dashboard-command.js';
import { benchCommand } from '../bench/bench-command.js';
import { REPLICATION_WORKLOADS } from '../bench/workloads.js';
import { parseInteger } from './options.js';
import { primaryCommand, secondaryCommand, secretCommand, statusCommand } from './pair-commands.js';
import { SWITCHOVER_HELP, switchoverCommand } from './switchover-command.js';
import { FAILURE_TIMEOUT_MS_DEFAULT, HEARTBEAT_INTERVAL_MS_DEFAULT } from '../channel/channel-server.js';

const out = (line: string) => process.stdout.write(line + '\n');
// `lockstep log big.log | head` closes stdout early: that is not an error worth a stack trace.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

function limitOptions(command: Command): Command {
  return command
    .option('--memory-mb <n>', 'guest heap limit in MiB (default 64)')
    .option('--stack-kb <n>', 'guest stack limit in KiB (default 256)')
    .option('--cpu-polls-max <n>', 'CPU budget per event, in interrupt polls (~5k loop iterations each; default 2000)');
}

export function buildProgram(setExit: (code: number) => void): Command {
  const program = new Command('lockstep')
    .description('Transparent failover for JavaScript programs by lockstep record and replay')
    .exitOverride()
    .showHelpAfterError();

  limitOptions(
    program
      .command('run <program>')
      .description('serve the guest over HTTP unreplicated (the baseline), optionally recording its log')
      .option('--port <n>', 'HTTP port', '8080')
      .option('--host <addr>', 'HTTP address', '127.0.0.1')
      .option('--dir <dir>', 'data directory (guest files under <dir>/data)', '.lockstep')
      .option('--record <file>', 'write the log to this file')
      .option('--checkpoint-every-entries <n>', 'with --record: a checkpoint (in <file>.checkpoints/) every n log entries')
      .option('--checkpoints-kept <n>', 'checkpoint files kept beside the log, the newest (default 3)')
      .option('--record-bytes-max <n>', 'with checkpoints: past this size the log is cut at the newest checkpoint, keeping the last stretch (default 1 GiB)')
      .option('--journal-bytes-max <n>', 'write journal of the guest files, in bytes at most: past half of it the files are made durable and it starts empty (default 64 MiB)')
      .option('--body-bytes-max <n>', 'largest request body accepted (413 past it)', String(1024 * 1024)),
  ).action(async (file, opts) => setExit(await runCommand(file, opts)));

  program
    .command('replay <log> <program>')
    .description('replay a recorded log offline, touching no clock, disk or network')
    .option('--outputs <file>', 'also write every replayed output as JSON lines (a binary body as bodyBase64)')
    .option('--to <n>', 'stop once entry #n is replayed (an event is replayed whole)')
    .option('--from-checkpoint <file>', 'start from this checkpoint instead of entry #1 (default with --to: the newest in <log>.checkpoints/ at or before it)')
    .option('--no-checkpoints', 'with --to: replay from entry #1 even if the log has checkpoints')
    .option('--checkpoint-out <file>', 'write a checkpoint of the state where the replay stopped')
    .option('--json', 'print the summary as one JSON object, with the final state digest')
    .action(async (log, file, opts) => setExit(await replayCommand(log, file, opts, out)));

  program
    .command('inspect <log> <program>')
    .description("the guest's state right after the event that contains entry --at (from the newest checkpoint before it): --eval EXPR prints a value, else a session of commands")
    .option('--at <n>', 'the entry (default: the last of the log)')
    .option('--eval <expr>', "evaluate this expression in the guest's global scope, print its value as JSON and exit")
    .option('--no-checkpoints', 'ignore the checkpoint files beside the log (replay from entry #1)')
    .option('--verbose', 'say on stderr where the replay started and how many entries it replayed')
    .addHelpText('after', INSPECT_HELP)
    .action(async (log, file, opts) => setExit(await inspectCommand(log, file, opts, { out, err: (line) => process.stderr.write(line + '\n'), input: process.stdin, interactive: process.stdin.isTTY === true })));

  program
    .command('upgrade-check <log> <new-program>')
    .description('replay a recorded history (a log, or a directory of logs) under a new program and compare every answer (status, headers, body) and the inputs it asks for')
    .option('--json', 'one JSON report (a directory: one object with every log and a summary)')
    .addHelpText('after', UPGRADE_CHECK_HELP)
    .action(async (log, file, opts) => setExit(await upgradeCheckCommand(log, file, opts, out)));

  program
    .command('log <log>')
    .description("print a log's entries")
    .option('--json', 'one JSON object per line')
    .option('--checkpoints', 'list only the checkpoints (entries and files beside the log)')
    .action(async (log, opts) => setExit(await logCommand(log, opts, out)));

  program
    .command('load')
    .description('failover-aware load client: Idempotency-Keys, retries to the other node, a summary')
    .requiredOption('--targets <urls>', 'comma-separated base URLs, e.g. http://127.0.0.1:8080,http://127.0.0.1:8081')
    .option('--rate <n>', 'requests per second in all (0: as fast as concurrency allows)')
    .option('--duration <d>', 'how long to send new requests (8s, 500ms)')
    .option('--concurrency <n>', 'requests in flight at once')
    .addOption(new Option('--workload <name>', 'a named workload (counter, kv, bank, echo, shortener)'))
    .option('--path <path>', 'request path (generic workload)')
    .option('--method <method>', 'request method (generic workload)')
    .option('--body <text>', 'request body (generic workload)')
    .option('--seed <n>', 'seed for keys and bodies')
    .option('--json', 'print the summary as JSON')
    .action(async (opts) => setExit(await loadCommand(opts, out)));

  const pairOptions = (command: Command) =>
    limitOptions(command)
      .option('--port <n>', 'HTTP service port', '8080')
      .option('--host <addr>', 'HTTP service address', '127.0.0.1')
      .requiredOption('--dir <dir>', 'with the file arbiter, the pair\'s shared directory (guest files, channel secret, claims); with etcd, this node\'s own')
      .option('--body-bytes-max <n>', 'largest request body accepted (413 past it)')
      .option('--heartbeat-ms <n>', `heartbeat interval on the logging channel (default ${HEARTBEAT_INTERVAL_MS_DEFAULT})`)
      .option('--failure-timeout-ms <n>', `silence after which the peer is declared failed (default ${FAILURE_TIMEOUT_MS_DEFAULT})`)
      .option('--unacked-bytes-max <n>', 'flow control: admit no new requests while this much log is unacknowledged')
      .option('--admission-waiting-bytes-max <n>', 'requests held back by flow control, at most, in bytes (default 64 MiB); past it a request is refused at once with 503')
      .option('--claim-timeout-ms <n>', 'a claim for the next epoch not decided within this long stops the node with exit 11 (default 5000)')
      .option('--retained-bytes-max <n>', 'hard bound on the log kept in memory (default 512 MiB); past it the oldest goes even before a checkpoint covers it')
      .option('--checkpoint-every-entries <n>', 'checkpoint the guest after this many log entries (default 10000; 0: not by count)')
      .option('--checkpoint-every-bytes <n>', 'checkpoint after this many bytes of log (default 8 MiB; 0: not by size)')
      .option('--checkpoint-every-ms <n>', 'checkpoint after this long, if anything was logged (default 60000; 0: not by time)')
      .option('--checkpoint-bytes-max <n>', 'largest checkpoint body taken or accepted (default 256 MiB)')
      .option('--replay-backlog-entries-max <n>', 'entries sent beyond what the secondary replayed, at most: bounds failover time (default 4096)')
      .option('--replay-backlog-ms-max <n>', 'the same bound in replay time: what the events sent beyond the secondary\'s replay cost live, at most (default 500)')
      .option('--arbiter <url>', "who decides epochs: 'file' (claims in --dir, one host or a shared mount) or etcd://HOST:PORT[,HOST:PORT...] (etcd v3's JSON gateway)", 'file')
      .option('--arbiter-prefix <prefix>', 'with --arbiter etcd://...: key prefix of this pair\'s claims (default lockstep; one prefix per pair)')
      .option('--arbiter-lease-ms <n>', 'with --arbiter etcd://...: TTL of the lease a claim is bound to (default 6000); alone, a node releases nothing past 0.8 of it after its last successful keepalive')
      .option('--secret-file <path>', 'the channel secret (hex, mode 600; `lockstep secret` makes one); both nodes give a copy of the same file. Default: <dir>/channel.secret, made on first use (one host)')
      .option('--replica-bytes-max <n>', 'with --arbiter etcd://...: bound on the guest files sent to a fresh secondary for its own replica (default 256 MiB)')
      .option('--no-rejoin', 'a node that is fenced (lost a claim) exits with code 10 instead of following the current owner as a fresh secondary');

  pairOptions(program.command('primary <program>').description('run as primary, serving the logging channel'))
    .option('--log-listen <host:port>', 'address of the logging channel', '127.0.0.1:7070')
    .option('--no-output-gate', 'release outputs without waiting for acks (only to show what goes wrong)')
    .option('--channel-delay-ms <n>', 'fault injection: ship log batches this late, like a slow logging link')
    .option('--takeover', 'claim a new epoch even though the current owner does not answer (it is gone for good; its in-memory state is lost)')
    .action(async (file, opts) => setExit(await primaryCommand(file, opts)));

  pairOptions(program.command('secondary <program>').description('run as secondary; go live when the primary dies'))
    .requiredOption('--primary <url>', 'the primary logging channel, e.g. ws://127.0.0.1:7070')
    .option('--log-listen <host:port>', 'logging channel to serve once live, for a fresh secondary', '127.0.0.1:0')
    .option('--shadow', "follow the primary under this (new) program and compare its answers with the primary's, without ever protecting it; divergences are counted in status")
    .option('--from-recording <file>', "with --shadow: replay this recording of the pair's log first (a shadow's --record), when the primary no longer keeps its log from entry #1")
    .option('--record <file>', "with --shadow: record the log followed and the answers the primary released (<file>.answers), for upgrade-check or a later --from-recording")
    .action(async (file, opts) => setExit(await secondaryCommand(file, opts)));

  program
    .command('secret')
    .description('print a new channel secret (hex) for --secret-file; with --out, write it to a file of mode 600')
    .option('--out <path>', 'write it here (refuses an existing file)')
    .action(async (opts) => setExit(await secretCommand(opts, out)));

  program
    .command('switchover')
    .description('hand the primary role to a shadow running a new program once it has followed K entries with no divergence')
    .requiredOption('--to <url>', "the shadow's service URL, e.g. http://127.0.0.1:8082")
    .requiredOption('--after-entries <k>', 'entries the shadow must have followed (since it attached) with no divergence')
    .option('--dir <dir>', "the pair's shared directory (its channel secret proves the request)")
    .option('--secret-file <path>', 'two hosts: the pair\'s --secret-file instead of --dir')
    .option('--json', 'print the outcome as JSON')
    .addHelpText('after', SWITCHOVER_HELP)
    .action(async (opts) => setExit(await switchoverCommand(opts, out)));

  program
    .command('status <url>')
    .description("print a node's status (GET /_lockstep/status)")
    .option('--json', 'raw JSON')
    .action(async (url, opts) => setExit(await statusCommand(url, opts, out)));

  program
    .command('demo')
    .description('start a pair, load it, SIGKILL the primary, show the failover and verify nothing was lost')
    .option('--program <file>', 'guest program (default guest-programs/shortener.js; counter.js and bank.js are checked too)')
    .option('--kill-after <d>', 'when to kill the primary (with --hosts: when to cut the hosts apart)', '3s')
    .option('--duration <d>', 'how long the load runs', '8s')
    .option('--rate <n>', 'requests per second', '200')
    .option('--concurrency <n>', 'requests in flight', '16')
    .option('--heartbeat-ms <n>', 'heartbeat interval', String(HEARTBEAT_INTERVAL_MS_DEFAULT))
    .option('--failure-timeout-ms <n>', 'failure detection timeout (a closed connection is noticed at once)', String(FAILURE_TIMEOUT_MS_DEFAULT))
    .option('--channel-delay <d>', 'fault injection: the primary ships its log this late (default 0, or 150ms with --no-output-gate)')
    .option('--no-output-gate', 'run the primary without the output rule, to see what it protects against')
    .option('--respawn', 'afterwards, start a fresh secondary against the survivor')
    .option('--seed <n>', 'seed of the load client')
    .option('--ui', 'serve the live dashboard page with Kill primary / Restart as secondary buttons (loopback only), until Ctrl-C')
    .option('--ui-port <n>', 'port of the --ui page', '8090')
    .option('--hosts', 'the pair on two network namespaces with a 3-member etcd, cut apart under load and healed, instead of a kill (needs root; exit 23 without)')
    .option('--cut-for <d>', 'with --hosts: how long the hosts cannot reach each other', '3s')
    .action(async (opts) => setExit(await demoCommand(opts, out)));

  program
    .command('chaos')
    .description('run real nodes under load and a seeded schedule of faults, and check that no client lost or was contradicted an answer')
    .option('--seed <n>', 'seed of the fault schedule and the load (printed first as SEED=; random by default)')
    .option('--faults <k>', 'how many faults to inject', chaos.faults)
    .option('--fault-kinds <kinds>', "'safe' (the default), 'all', 'hosts' (the default with --hosts), or a comma-separated list (see below)")
    .option('--hosts', 'run the nodes on two network namespaces with a 3-member etcd, and add network and etcd faults (needs root)')
    .option('--program <file>', 'guest program: bank.js (total conserved) or counter.js (counts distinct and covered)')
    .option('--json <file>', 'also write the summary as JSON')
    .option('--duration <d>', 'stop injecting faults after this long (e.g. 10m), even if some are left')
    .option('--rate <n>', 'requests per second', chaos.rate)
    .option('--concurrency <n>', 'requests in flight', chaos.concurrency)
    .option('--heartbeat-ms <n>', 'heartbeat interval of every node', chaos.heartbeatMs)
    .option('--failure-timeout-ms <n>', 'failure timeout of every node', chaos.failureTimeoutMs)
    .option('--gap-max <d>', 'liveness: longest client-visible gap allowed per fault', chaos.gapMax)
    .option('--reprotect-max <d>', 'liveness: longest time until a caught-up secondary protects a primary again', chaos.reprotectMax)
    .option('--no-output-gate', 'run primaries without the output rule (to see the checkers catch the loss)')
    .option('--channel-delay-ms <n>', 'primaries ship their log this late (passed to lockstep primary)')
    .option('--link-delay-ms <min..max>', "every secondary's logging link adds a delay per direction drawn from this range (e.g. 50..400; order kept), so handshakes and attaches cross a real round trip; needs a failure timeout above 4x the max")
    .option('--checkpoint-every-entries <n>', 'every node checkpoints this often, so restarted secondaries are re-protected from a checkpoint', chaos.checkpointEveryEntries)
    .addHelpText('after', CHAOS_HELP)
    .action(async (opts) => {
      const code = await chaosCommand(opts, out);
      setExit(code);
      // The verdict is out: a socket or timer of a dead node's proxy must not keep the harness alive.
      setTimeout(() => process.exit(code), 1000).unref();
    });

  program
    .command('dashboard')
    .description('serve a live page watching a pair: roles, protection, rates, lag, charts and a timeline')
    .requiredOption('--targets <urls>', "the nodes' service URLs, e.g. http://127.0.0.1:8080,http://127.0.0.1:8081")
    .option('--port <n>', 'port of the page', '8090')
    .option('--host <addr>', 'address of the page (loopback by default)', '127.0.0.1')
    .option('--poll-ms <n>', 'how often the nodes are polled', '250')
    .action(async (opts) => setExit(await dashboardCommand(opts, out)));

  program
    .command('bench')
    .description('measure logging overhead, log bandwidth and failover time, side by side (see BENCHMARKS.md)')
    .option('--quick', 'fewer and shorter repetitions, 4 workloads (about 3 minutes)')
    .option('--out <dir>', 'directory for bench.json and report.html', 'bench-results')
    .option('--json <file>', 'JSON results file')
    .option('--html <file>', 'HTML report file')
    .option('--workloads <list>', `replicated-vs-unreplicated workloads, comma-separated (${REPLICATION_WORKLOADS.map((w) => w.name).join(', ')})`, parseWorkloadList)
    .option('--failovers <n>', 'SIGKILL failovers to time (default 5 with --quick, 9 without; 0 for none)', (n: string) => parseInteger(n, '--failovers', 0, 1000))
    .action(async ({ failovers, ...opts }) => setExit(await benchCommand({ ...opts, failoverTrials: failovers }, out)));

  return program;
}

export async function main(argv: string[]): Promise<number> {
  let code = 0;
  const program = buildProgram((c) => (code = c));
  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    if (error instanceof LockstepError) {
      process.stderr.write(`lockstep: ${error.message} [${error.code}]\n`);
      return error.exitCode;
    }
    throw error;
  }
}

function parseWorkloadList(list: string): string[] {
  const names = list.split(',');
  const known = REPLICATION_WORKLOADS.map((w) => w.name as string);
  const unknown = names.filter((n) => !known.includes(n));
  if (unknown.length > 0) throw new UsageError(`--workloads: unknown ${unknown.join(', ')}; choose from ${known.join(', ')}.`);
  return names;
}
