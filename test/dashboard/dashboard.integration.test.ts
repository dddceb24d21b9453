// The dashboard in a real browser against a real pair: both nodes shown side by side; after a
// SIGKILL of the primary the page, without a reload, shows it down, the secondary live and the
// go-live on the timeline; no console errors. Screenshots go to test-artifacts/.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Proc, assertBuilt, freePort, increment, startPair, tempDir, waitUntil, type Pair } from '../replication/helpers.js';
import { ARTIFACTS_DIR, launchChromium, type Browser } from './browser.js';

const roleOf = (page: Page, url: string) => page.locator(`article.node[data-url="${url}"] .role`).textContent();

describe('lockstep dashboard in Chromium', () => {
  let pair: Pair;
  let dashboard: Proc;
  let browser: Browser;
  let dashboardUrl: string;

  beforeAll(async () => {
    assertBuilt();
    pair = await startPair(await tempDir('dashboard'));
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
    await expect.poll(() => roleOf(page, pair.secondary.url)).toBe('secondary');
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
    await expect.poll(() => roleOf(page, pair.secondary.url), { timeout: 10_000 }).toBe('primary (promoted)');
    for (const kind of ['down', 'failure-detected', 'claim-won', 'live']) await page.locator(`#timeline li[data-kind="${kind}"]`).waitFor({ timeout: 10_000 });
    expect(await page.evaluate(() => (window as any).__sameDocument)).toBe(true); // no reload
    // The survivor serves, and the page keeps updating.
    await waitUntil(async () => (await increment(pair.secondary.url, 'after')).status === 200, 5000, 'survivor answers');
    await page.waitForTimeout(1000);
    await page.screenshot({ path: join(ARTIFACTS_DIR, 'dashboard-after-failover.png'), fullPage: true });
    expect(dashboard.alive).toBe(true);
    expect(problems).toEqual([]);
  });
});
