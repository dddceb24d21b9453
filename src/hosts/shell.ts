// Running the system tools the testbed drives (ip, nft): a bounded wait, and the tool's own words
// in the error, so a failing step names its command and why it failed.
import { execFile } from 'node:child_process';
import { HostsUnavailableError } from './errors.js';

/** One tool call may take this long (a namespace with many processes is slow to delete). */
export const COMMAND_TIMEOUT_MS = 15_000;

export function run(command: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(command, args, { timeout: COMMAND_TIMEOUT_MS, maxBuffer: 4 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (!error) return resolve(stdout);
      const said = String(stderr || error.message).trim().split('\n')[0];
      reject(new Error(`${command} ${args.join(' ')}: ${said}`));
    });
    if (input !== undefined) child.stdin!.end(input);
  });
}

/** `ip ARGS`. */
export function ip(...args: string[]): Promise<string> {
  return run('ip', args);
}

/** Says why this machine cannot host namespaces, or undefined when it can (root, ip, nft, etcd). */
export async function hostsSupport(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'it needs root (network namespaces and nftables rules)';
  for (const tool of ['ip', 'nft', 'etcd']) {
    try {
      await run('sh', ['-c', `command -v ${tool}`]);
    } catch {
      return `'${tool}' is missing (apt-get install -y ${tool === 'ip' ? 'iproute2' : tool === 'nft' ? 'nftables' : 'etcd-server'})`;
    }
  }
  return undefined;
}

/** Throws the testbed's error when this machine cannot host namespaces. */
export async function requireHostsSupport(what: string): Promise<void> {
  const missing = await hostsSupport();
  if (missing) throw new HostsUnavailableError(`${what} runs nodes in network namespaces, and here ${missing}.`);
}

/** Ctrl-C, kill and hangup end the process through 'exit', where a testbed removes its namespaces and processes. */
export function exitOnSignals(code: number): void {
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(signal, () => process.exit(code));
}
