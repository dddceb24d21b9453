// Starting a shadow secondary (`lockstep secondary PROGRAM --shadow`) of a pair in the integration tests.
import { isAbsolute, join } from 'node:path';
import { freePort, Proc, ROOT, type StartedNode } from '../replication/helpers.js';

export const FIXTURES = join(ROOT, 'test/fixtures/timetravel');

/** A shadow running <program> (absolute, or in test/fixtures/timetravel) against the primary's logging channel; resolves once it serves status. */
export async function startShadow(program: string, dir: string, logPort: number, extra: string[] = []): Promise<StartedNode> {
  const port = await freePort();
  const proc = new Proc(`shadow ${program}`, [
    'secondary', isAbsolute(program) ? program : join(FIXTURES, program), '--shadow', '--port', String(port), '--primary', `ws://127.0.0.1:${logPort}`, '--dir', dir,
    '--heartbeat-ms', '50', '--failure-timeout-ms', '1000', ...extra,
  ]);
  await proc.waitFor(/shadow of .* on http/, 15_000);
  return { proc, port, host: '127.0.0.1', logPort: 0, url: `http://127.0.0.1:${port}` };
}
