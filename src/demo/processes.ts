// Starting Lockstep nodes as real child processes, for the demo and the benchmark: free ports,
// captured output, status polling, and a real SIGKILL.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

export const LOCKSTEP_BIN = fileURLToPath(new URL('../../bin/lockstep.js', import.meta.url));

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface NodeProcess {
  name: string;
  child: ChildProcess;
  url: string;
  /** Everything the process wrote, for reports and for failure messages. */
  output(): string;
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): void;
}

export function spawnNode(name: string, args: string[], port: number, onLine?: (line: string) => void): NodeProcess {
  const child = spawn(process.execPath, [LOCKSTEP_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  const collect = (chunk: Buffer) => {
    const s = chunk.toString();
    text += s;
    if (text.length > 1_000_000) text = text.slice(-500_000);
    if (onLine) for (const line of s.split('\n')) if (line.trim()) onLine(line);
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { name, child, url: `http://127.0.0.1:${port}`, output: () => text, exited, kill: (signal = 'SIGKILL') => void child.kill(signal) };
}

export async function getJson(url: string, timeoutMs = 2000): Promise<any> {
  const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  return response.json();
}

export async function status(node: { url: string }): Promise<any> {
  return getJson(`${node.url}/_lockstep/status`);
}

/** Polls until `check(status)` holds; throws with the node's output if it never does. */
export async function waitForStatus(node: NodeProcess, check: (s: any) => boolean, timeoutMs: number, what: string): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      last = await status(node);
      if (check(last)) return last;
    } catch (error) {
      last = error instanceof Error ? error.message : error;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${node.name} did not reach '${what}' within ${timeoutMs} ms (last status: ${JSON.stringify(last)})\n${node.output().slice(-2000)}`);
}
