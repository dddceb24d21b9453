// The physical limit of the request path: a bare `node:http` server answering "ok" to everything,
// run as a bench worker pinned like a Lockstep node. It serves until it is killed.
import { createServer } from 'node:http';

export interface HttpOkTask {
  kind: 'http-ok';
  port: number;
}

export function runHttpOk(task: HttpOkTask): Promise<never> {
  const server = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/plain' });
    response.end('ok');
  });
  return new Promise((_resolve, reject) => {
    server.once('error', reject);
    server.listen(task.port, '127.0.0.1');
  });
}
