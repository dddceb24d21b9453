// `lockstep demo --ui` in Chromium: the person presses Kill primary and Restart as secondary on
// the page; the page shows the failover and the re-protection live, the load loses nothing, and
// the demo ends cleanly on SIGINT. The last screenshot is the one in the README.
import { copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Proc, ROOT, assertBuilt, freePort } from '../replication/helpers.js';
import { ARTIFACTS_DIR, launchChromium, type Browser } from './browser.js';

const roles = (page: Page) => page.locator('article.node .role').allTextContents();

describe('lockstep demo --ui', () => {
  let demo: Proc;
  let browser: Browser;
  let url: string;

  beforeAll(async () => {
    assertBuilt();
    demo = new Proc('demo --ui', ['demo', '--ui', '--ui-port', String(await freePort()), '--rate', '60', '--concurrency', '4', '--seed', '11']);
    url = (await demo.waitFor(/dashboard on (http:\S+)/, 30_000))[1];
    browser = await launchChromium();
    await mkdir(ARTIFACTS_DIR, { recursive: true });
  });
  afterAll(async () => {
    await browser?.close();
    await demo?.kill();
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
