// `lockstep dashboard --targets URL,URL`: parses flags, starts the dashboard process's server,
// prints where the page is, and runs until SIGINT/SIGTERM.
import { UsageError } from '../errors.js';
import { POLL_INTERVAL_MS_DEFAULT, TARGETS_MAX, startDashboard } from '../dashboard/dashboard-server.js';
import { parseInteger } from './options.js';

export interface DashboardFlags {
  targets: string;
  port: string;
  host: string;
  pollMs?: string;
}

export function parseDashboardTargets(text: string): string[] {
  const targets = text.split(',').map((t) => t.trim()).filter((t) => t !== '');
  if (targets.length === 0) throw new UsageError('--targets: give the nodes\' URLs, e.g. --targets http://127.0.0.1:8080,http://127.0.0.1:8081');
  if (targets.length > TARGETS_MAX) throw new UsageError(`--targets: ${targets.length} URLs; a dashboard watches at most ${TARGETS_MAX} nodes.`);
  return targets.map((t) => {
    let url: URL;
    try {
      url = new URL(t);
    } catch {
      throw new UsageError(`--targets: '${t}' is not a URL; write e.g. http://127.0.0.1:8080`);
    }
    if (url.protocol !== 'http:') throw new UsageError(`--targets: '${t}' must start with http:// (a node's service port).`);
    return url.origin;
  });
}

export async function dashboardCommand(flags: DashboardFlags, print: (line: string) => void): Promise<number> {
  const dashboard = await startDashboard({
    targets: parseDashboardTargets(flags.targets),
    host: flags.host,
    port: parseInteger(flags.port, '--port', 0, 65535)!,
    pollIntervalMs: parseInteger(flags.pollMs, '--poll-ms', 50, 60_000) ?? POLL_INTERVAL_MS_DEFAULT,
  });
  print(`dashboard on ${dashboard.url} watching ${dashboard.state().nodes.map((n) => n.url).join(', ')} (Ctrl-C to stop)`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await dashboard.close();
  return 0;
}
