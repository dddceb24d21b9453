// The harness's way into the namespaces: a gateway process in the client namespace, and for each
// address the harness talks to, a TCP listener on 127.0.0.1 whose connections go through it. The
// load, the status monitor and the checkers then use plain http://127.0.0.1:PORT URLs.
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

// From src/hosts (tests) and dist/hosts alike: the compiled script.
const GATEWAY_MAIN = fileURLToPath(new URL('../../dist/hosts/gateway-main.js', import.meta.url));
const GATEWAY_START_MS_MAX = 15_000;

export class Gateway {
  private readonly listeners = new Map<string, Promise<net.Server>>();
  private readonly sockets = new Set<net.Socket>();

  private constructor(
    private readonly child: ChildProcess,
    private readonly socketPath: string,
  ) {}

  /** Starts the gateway process inside `ns`, its socket in `runDir`. */
  static async start(ns: string, runDir: string): Promise<Gateway> {
    const socketPath = join(runDir, 'gateway.sock');
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, GATEWAY_MAIN, socketPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the gateway in ${ns} did not start within ${GATEWAY_START_MS_MAX} ms: ${output}`)), GATEWAY_START_MS_MAX);
      const onData = (d: Buffer) => {
        output += d.toString();
        if (output.includes('gateway listening')) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`the gateway in ${ns} exited (code ${code}): ${output}`));
      });
    });
    await ready;
    return new Gateway(child, socketPath);
  }

  /** A URL on 127.0.0.1 that reaches http://ADDRESS:PORT inside the testbed. */
  async url(address: string, port: number): Promise<string> {
    return `http://127.0.0.1:${await this.localPort(address, port)}`;
  }

  /** A port on 127.0.0.1 forwarded to ADDRESS:PORT (one listener per address, kept for the run). */
  async localPort(address: string, port: number): Promise<number> {
    const target = `${address}:${port}`;
    let listening = this.listeners.get(target);
    if (!listening) {
      listening = this.listen(target);
      this.listeners.set(target, listening);
    }
    return ((await listening).address() as net.AddressInfo).port;
  }

  private async listen(target: string): Promise<net.Server> {
    const server = net.createServer((client) => {
      const tunnel = net.connect(this.socketPath);
      for (const s of [client, tunnel]) {
        this.sockets.add(s);
        s.on('error', () => undefined);
        s.on('close', () => {
          this.sockets.delete(s);
          client.destroy();
          tunnel.destroy();
        });
      }
      tunnel.write(`${target}\n`);
      client.pipe(tunnel);
      tunnel.pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    return server;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    for (const listening of this.listeners.values()) (await listening).close();
    this.child.kill('SIGKILL');
  }
}
