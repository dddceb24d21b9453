// The dashboard process's own HTTP surface: the page and its script, an event stream that starts
// with the state, a node that does not answer shown as down, and buttons refused unless they are
// the demo's, pressed from this machine with the action header.
import { afterEach, describe, expect, it } from 'vitest';
import { startDashboard, type Dashboard } from '../../src/dashboard/dashboard-server.js';
import { parseDashboardTargets } from '../../src/cli/dashboard-command.js';
import { freePort } from '../replication/helpers.js';

let dashboard: Dashboard | undefined;
afterEach(async () => dashboard?.close());

async function start(actions = false): Promise<Dashboard> {
  const dead = `http://127.0.0.1:${await freePort()}`; // nothing listens there
  dashboard = await startDashboard({
    targets: [dead],
    host: '127.0.0.1',
    port: 0,
    pollIntervalMs: 50,
    actions: actions ? { killPrimary: async () => 'killed', restartSecondary: async () => { throw new Error('no dead node'); } } : undefined,
  });
  return dashboard;
}

describe('dashboard server', () => {
  it('serves the page, its script and style', async () => {
    const d = await start();
    const page = await fetch(d.url);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(await page.text()).toMatch(/<script src="\/dashboard.js">/);
    expect((await fetch(new URL('/dashboard.js', d.url))).status).toBe(200);
    expect((await fetch(new URL('/dashboard.css', d.url))).status).toBe(200);
    expect((await fetch(new URL('/nope', d.url))).status).toBe(404);
  });

  it('streams state as server-sent events and shows a silent node as down', async () => {
    const d = await start();
    const response = await fetch(new URL('/events', d.url));
    expect(response.headers.get('content-type')).toBe('text/event-stream');
    const reader = response.body!.getReader();
    let text = '';
    const deadline = Date.now() + 5000;
    while (!/"up":false[^}]*"error"/.test(text) && Date.now() < deadline) text += new TextDecoder().decode((await reader.read()).value);
    await reader.cancel();
    expect(text).toMatch(/^retry: 1000\n\nevent: state\ndata: \{/);
    await expect.poll(() => d.state().nodes[0].error, { timeout: 5000 }).toMatch(/ECONNREFUSED/);
    expect(d.state().nodes[0].up).toBe(false);
  });

  it('refuses the buttons without actions, or without the action header', async () => {
    let d = await start();
    expect((await fetch(new URL('/actions/kill-primary', d.url), { method: 'POST', headers: { 'x-lockstep-action': '1' } })).status).toBe(403);
    await d.close();
    d = await start(true);
    expect((await fetch(new URL('/actions/kill-primary', d.url), { method: 'POST' })).status).toBe(403);
    const ok = await fetch(new URL('/actions/kill-primary', d.url), { method: 'POST', headers: { 'x-lockstep-action': '1' } });
    expect(await ok.json()).toEqual({ ok: true, message: 'killed' });
    const refused = await fetch(new URL('/actions/restart-secondary', d.url), { method: 'POST', headers: { 'x-lockstep-action': '1' } });
    expect(refused.status).toBe(409);
    expect(await refused.json()).toEqual({ ok: false, message: 'no dead node' });
  });

  it('checks --targets', () => {
    expect(parseDashboardTargets('http://127.0.0.1:8080/, http://127.0.0.1:8081')).toEqual(['http://127.0.0.1:8080', 'http://127.0.0.1:8081']);
    expect(() => parseDashboardTargets('')).toThrow(/give the nodes/);
    expect(() => parseDashboardTargets('ws://127.0.0.1:7070')).toThrow(/http:\/\//);
    expect(() => parseDashboardTargets('not a url')).toThrow(/not a URL/);
    expect(() => parseDashboardTargets(Array.from({ length: 9 }, (_, i) => `http://h:${i + 1}`).join(','))).toThrow(/at most 8/);
  });
});
