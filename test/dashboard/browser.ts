// Debian's Chromium driven by playwright-core, for the dashboard's browser tests: a fresh profile
// every time, headless, nothing fetched from the network but the page under test.
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

export const CHROMIUM = process.env.LOCKSTEP_CHROMIUM ?? '/usr/bin/chromium';
export const ARTIFACTS_DIR = join(process.cwd(), 'test-artifacts');

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

/**
 * The browser tests run where Chromium is (CI installs it and sets LOCKSTEP_REQUIRE_CHROMIUM=1, so
 * there a missing one fails); elsewhere they are skipped with a message, so `npm test` passes on a
 * fresh machine that has only Node and npm.
 */
export function chromiumMissing(): boolean {
  if (existsSync(CHROMIUM)) return false;
  if (process.env.LOCKSTEP_REQUIRE_CHROMIUM === '1') return false; // launchChromium says what is missing
  console.warn(`SKIPPING the browser tests: no Chromium at ${CHROMIUM} (as root: apt-get install -y chromium; .ci/run does), or set LOCKSTEP_CHROMIUM`);
  return true;
}

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: install it (as root: apt-get install -y chromium; .ci/run does) or set LOCKSTEP_CHROMIUM`);
  const profile = await mkdtemp(join(tmpdir(), 'lockstep-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  return {
    context,
    close: async () => {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}
