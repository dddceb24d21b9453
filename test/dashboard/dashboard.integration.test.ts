// The dashboard in a real browser (Debian's Chromium) against real nodes, in one file so the two
// browsers do not run at once on a small machine. 1) `lockstep dashboard` on a pair: both nodes
// side by side; after a SIGKILL of the primary the page, without a reload, shows it down, the
// secondary live and the go-live on the timeline. 2) `lockstep demo --ui`: the person presses Kill
// primary and Restart as secondary; the load loses nothing; the demo ends cleanly on SIGINT.
// No console errors in either. Screenshots go to test-artifacts/; the last one is the README's.
import { copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Proc, ROOT, assertBuilt, freePort, increment, startPair, tempDir, waitUntil, type Pair } from '../replication/helpers.js';
import { ARTIFACTS_DIR, chromiumMissing, launchChromium, type Browser } from './browser.js';

const skipBrowser = chromiumMissing();

const roles = (page: Page) => page.locator('article.node .role').allTextContents();
/** The role shown for a node; when a poll fails, the message carries what the dashboard knows. */
const roleOf = (page: Page, url: string) => page.locator(`article.node[data-url="${url}"] .role`).textContent();
const stateOf = async (dashboardUrl: string) => {
  try {
    return JSON.stringify((await (await fetch(new URL('/state', dashboardUrl))).json()).nodes);
  } catch (error) {
    return `(no state: ${error})`;
  }
};

describe.skipIf(skipBrowser)('lockstep dashboard in Chromium', () => {
  let pair: Pair;
  let dashboard: Proc;
  let browser: Browser;
  let dashboardUrl: string;

  beforeAll(async () => {
    assertBuilt();
    // A generous failure timeout: the kill below closes the socket, which is noticed at once, and a
    // loaded CI machine must not fail the pair over before the test kills anything.
    pair = await startPair(await tempDir('dashboard'), { heartbeatMs: 100, failureTimeoutMs: 3000 });
    const port = await freePort();
    dashboard = new Proc('dashboard', ['dashboard', '--targets', `${pair.primary.url},${pair.secondary.url}`, '--port', String(port), '--poll-ms', '100']);
    dashboardUrl = (await dashboard.waitFor(/dashboard on (http:\S+)/))[1];
    browser = await launchChromium();
    await mkdir(ARTIFACTS_DIR, { recursive: true });
  });
  afterAll(async () => {
    await browser?.close();
    await dashboard?.kill();
    await pair?.kill();
  });

  it('shows the pair, then the failover, live and without errors', async () => {
    const page = await browser.context.newPage();
    const problems: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'warning') problems.push(`${message.type()}: ${message.text()}`);
    });
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('requestfailed', (request) => problems.push(`request failed: ${request.url()} ${request.failure()?.errorText}`));

    await page.goto(dashboardUrl);
    await page.locator('#connection', { hasText: 'live' }).waitFor();
    await expect.poll(() => roleOf(page, pair.primary.url), { timeout: 10_000 }).toBe('primary');
    await expect.poll(() => roleOf(page, pair.secondary.url), { timeout: 10_000, message: await stateOf(dashboardUrl) }).toBe('secondary');
    await page.locator('#timeline li[data-kind="protected"]').waitFor();
    await page.evaluate(() => ((window as any).__sameDocument = true));

    // Some load, so the charts and rates have something to show.
    const stopLoad = { stop: false };
    const load = (async () => {
      for (let i = 0; !stopLoad.stop; i++) await Promise.all(Array.from({ length: 4 }, (_, j) => increment(pair.primary.url, `d-${i}-${j}`).catch(() => undefined)));
    })();
    await expect.poll(async () => Number(await page.locator(`article.node[data-url="${pair.primary.url}"] [data-field="events"]`).textContent()), { timeout: 10_000 }).toBeGreaterThan(0);
    await page.waitForTimeout(1500);
    await page.screenshot({ path: join(ARTIFACTS_DIR, 'dashboard-protected.png'), fullPage: true });
    stopLoad.stop = true;
    await load;

    await pair.primary.proc.kill(); // SIGKILL
    await expect.poll(() => roleOf(page, pair.primary.url), { timeout: 10_000 }).toMatch(/^down/);
    await expect.poll(() => roleOf(page, pair.secondary.url), { timeout: 10_000 }).toBe('primary (promoted)').catch(async (error) => {
      throw new Error(`${error.message}\nstate: ${await stateOf(dashboardUrl)}\nsecondary: ${pair.secondary.proc.stderr.slice(-1500)}`);
    });
    for (const kind of ['down', 'failure-detected', 'claim-won', 'live']) await page.locator(`#timeline li[data-kind="${kind}"]`).waitFor({ timeout: 10_000 });
    expect(await page.evaluate(() => (window as any).__sameDocument)).toBe(true); // no reload
    // Each live card says who decides epochs (here the file arbiter, in the pair's directory).
    await expect.poll(() => page.locator('dd[data-field="arbiter"]').last().textContent(), { timeout: 5000 }).toMatch(/^file · \//);
    // The survivor serves, and the page keeps updating.
    await waitUntil(async () => (await increment(pair.secondary.url, 'after')).status === 200, 5000, 'survivor answers');
    await page.waitForTimeout(1000);
    await page.screenshot({ path: join(ARTIFACTS_DIR, 'dashboard-after-failover.png'), fullPage: true });
    expect(dashboard.alive).toBe(true);
    expect(problems).toEqual([]);
  });
});

describe.skipIf(skipBrowser)('lockstep demo --ui', () => {
  let demo: Proc;
  let browser: Browser;
  let url: string;

  beforeAll(async () => {
    assertBuilt();
    demo = new Proc('demo --ui', ['demo', '--ui', '--ui-port', String(await freePort()), '--rate', '60', '--concurrency', '4', '--seed', '11', '--failure-timeout-ms', '3000']);
    url = (await demo.waitFor(/dashboard on (http:\S+)/, 30_000))[1];
    browser = await launchChromium();
    await mkdir(ARTIFACTS_DIR, { recursive: true });
  });
  afterAll(async () => {
    await browser?.close();
    // SIGINT lets the demo stop its own nodes; a SIGKILL would leave them running.
    demo?.signal('SIGINT');
    await demo?.waitExit(20_000).catch(() => demo.kill());
  });

  it('kills and restarts from the page, losing nothing', async () => {
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:/); // loopback only
    const page = await browser.context.newPage();
    const problems: string[] = [];
    page.on('console', (m) => (m.type() === 'error' || m.type() === 'warning') && problems.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    await page.goto(url);
    await expect.poll(() => roles(page), { timeout: 10_000, message: `page state: ${await (await fetch(new URL('/state', url))).text()}` }).toEqual(['primary', 'secondary']);
    await expect.poll(async () => Number((await page.locator('#load b').first().textContent()) ?? 0), { timeout: 10_000 }).toBeGreaterThan(0);
    await page.waitForTimeout(1000);

    await page.getByRole('button', { name: 'Kill primary' }).click();
    await expect.poll(() => page.locator('#action-message').textContent()).toMatch(/SIGKILL sent/);
    await expect.poll(() => roles(page), { timeout: 10_000 }).toEqual([expect.stringMatching(/^down/), 'primary (promoted)']);
    for (const kind of ['killed', 'failure-detected', 'claim-won', 'live']) await page.locator(`#timeline li[data-kind="${kind}"]`).waitFor({ timeout: 10_000 });

    await page.getByRole('button', { name: 'Restart as secondary' }).click();
    await expect.poll(() => roles(page), { timeout: 20_000 }).toEqual(['secondary', 'primary (promoted)']);
    await page.locator('#timeline li[data-kind="re-protected"]').waitFor({ timeout: 20_000 });
    await page.waitForTimeout(2000); // a little history on the charts after re-protection
    await page.screenshot({ path: join(ARTIFACTS_DIR, 'demo-ui.png'), fullPage: true });
    if (process.env.LOCKSTEP_UPDATE_SCREENSHOT) await copyFile(join(ARTIFACTS_DIR, 'demo-ui.png'), join(ROOT, 'docs/dashboard.png'));
    const loadLine = await page.locator('#load').textContent();
    expect(loadLine).toMatch(/lost 0 · duplicates 0/);
    expect(problems).toEqual([]);

    demo.signal('SIGINT');
    const exit = await demo.waitExit(20_000);
    expect(demo.stdout).toMatch(/answered, \d+ retried, 0 lost, 0 duplicates/);
    expect(exit.code, demo.stdout + demo.stderr).toBe(0);
  });
});
