// The gateway process, run inside the testbed's client namespace: it listens on a unix socket (a
// path on the shared filesystem, reachable from any namespace) and forwards each connection to
// the address its first line names (`HOST:PORT\n`), so the harness reaches the namespaces'
// addresses without giving the machine's own namespace an address or a route.
import net from 'node:net';

/** The header line is short: an IPv4 address and a port. */
const HEADER_BYTES_MAX = 64;

function forward(client: net.Socket): void {
  let header = '';
  client.on('error', () => undefined);
  const onData = (chunk: Buffer) => {
    header += chunk.toString('latin1');
    const end = header.indexOf('\n');
    if (end < 0) {
      if (header.length > HEADER_BYTES_MAX) client.destroy();
      return;
    }
    client.off('data', onData);
    client.pause();
    const m = /^([\d.]+):(\d+)$/.exec(header.slice(0, end));
    if (!m) return void client.destroy();
    const rest = Buffer.from(header.slice(end + 1), 'latin1');
    const upstream = net.connect(Number(m[2]), m[1]);
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    upstream.on('connect', () => {
      if (rest.length > 0) upstream.write(rest);
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
    });
  };
  client.on('data', onData);
}

const socketPath = process.argv[2];
if (!socketPath) {
  console.error('usage: gateway-main.js SOCKET_PATH');
  process.exit(2);
}
net.createServer(forward).listen(socketPath, () => console.log(`gateway listening on ${socketPath}`));
