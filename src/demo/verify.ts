// Checks the survivor's state against what clients were told, per guest program: the answers a
// client received must all be reflected in the state that survived the failover.
import type { LoadSummary } from '../client/load-client.js';
import { getJson } from './processes.js';

export interface Verdict {
  ok: boolean;
  lines: string[];
}

/** counter.js: every 200 answer told a distinct count, and the survivor's count covers them all. */
async function verifyCounter(url: string, summary: LoadSummary): Promise<Verdict> {
  const told: number[] = [];
  for (const answer of summary.answers.values()) {
    if (answer.status !== 200) continue;
    const count = (JSON.parse(answer.body) as { count?: number }).count;
    if (typeof count === 'number') told.push(count);
  }
  const final = (await getJson(`${url}/count`)).count as number;
  const highest = told.length ? Math.max(...told) : 0;
  const distinct = new Set(told).size;
  const lines = [
    `survivor's counter: ${final}`,
    `answers with a count: ${told.length} (highest count a client was told: ${highest})`,
  ];
  let ok = true;
  if (distinct !== told.length) {
    ok = false;
    lines.push(`WRONG: ${told.length - distinct} counts were told to two different clients`);
  }
  if (highest > final) {
    ok = false;
    lines.push(`LOST: a client was told count=${highest} but the survivor's counter is ${final}: ${highest - final} acknowledged increments vanished`);
  } else if (final < told.length) {
    ok = false;
    lines.push(`LOST: ${told.length} increments were acknowledged but the survivor counted ${final}`);
  } else if (final > summary.sent) {
    ok = false;
    lines.push(`WRONG: the counter (${final}) exceeds the number of keys sent (${summary.sent}): some key ran twice`);
  } else {
    lines.push(`every acknowledged increment is in the survivor's state (${final} >= ${told.length} answered, <= ${summary.sent} sent)`);
  }
  return { ok, lines };
}

/** bank.js: money is neither created nor destroyed by failover. */
async function verifyBank(url: string, _summary: LoadSummary, before?: unknown): Promise<Verdict> {
  const total = (await getJson(`${url}/total`)).total;
  const ok = before === undefined || total === before;
  return { ok, lines: [ok ? `bank total unchanged: ${total}` : `WRONG: bank total was ${before} before, ${total} after failover`] };
}

/** Survivor requests in flight at once while checking (keeps the check quick without flooding the node). */
const CHECKS_IN_FLIGHT_MAX = 16;

async function inBatches<T>(items: T[], check: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += CHECKS_IN_FLIGHT_MAX) await Promise.all(items.slice(i, i + CHECKS_IN_FLIGHT_MAX).map(check));
}

/**
 * shortener.js: every link a client was told was created (201) is on the survivor with the URL the
 * client was told, and every visit a client was redirected by (302) is counted there, exactly once.
 */
async function verifyShortener(url: string, summary: LoadSummary): Promise<Verdict> {
  const told = new Map<string, string>(); // slug -> URL a 201 told
  const redirects = new Map<string, number>(); // slug -> 302s told
  const visitKeys = new Map<string, number>(); // slug -> answered visit keys
  for (const answer of summary.answers.values()) {
    const { method, path } = answer.request;
    if (method === 'POST' && answer.status === 201) {
      const { slug, url: target } = JSON.parse(answer.body) as { slug: string; url: string };
      told.set(slug, target);
    } else if (method === 'GET') {
      const slug = path.slice(1);
      visitKeys.set(slug, (visitKeys.get(slug) ?? 0) + 1);
      if (answer.status === 302) redirects.set(slug, (redirects.get(slug) ?? 0) + 1);
    }
  }
  const missing: string[] = [];
  const wrongUrl: string[] = [];
  const uncounted: string[] = [];
  const overcounted: string[] = [];
  const slugs = [...new Set([...told.keys(), ...redirects.keys()])];
  await inBatches(slugs, async (slug) => {
    const response = await fetch(`${url}/links/${slug}`, { signal: AbortSignal.timeout(5000) });
    const link = (await response.json()) as { url?: string; hits?: number };
    if (response.status !== 200) return void missing.push(slug);
    if (told.has(slug) && link.url !== told.get(slug)) wrongUrl.push(`${slug}: told ${told.get(slug)}, survivor has ${link.url}`);
    const hits = link.hits ?? 0;
    if (hits < (redirects.get(slug) ?? 0)) uncounted.push(`${slug}: ${redirects.get(slug)} redirect(s) told, ${hits} counted`);
    // Unanswered keys (lost) may have run too; beyond them, a higher count means a visit ran twice.
    if (hits > (visitKeys.get(slug) ?? 0) + summary.lost) overcounted.push(`${slug}: ${hits} visits counted, ${visitKeys.get(slug) ?? 0} sent`);
  });
  const lines = [
    `links a client was told were created: ${told.size}; visits a client was redirected by: ${[...redirects.values()].reduce((a, b) => a + b, 0)}`,
  ];
  const example = (list: string[]) => list.slice(0, 3).join('; ');
  if (missing.length) lines.push(`LOST: ${missing.length} links a client was told exist are missing on the survivor (${example(missing)})`);
  if (wrongUrl.length) lines.push(`WRONG: ${wrongUrl.length} links point elsewhere than a client was told (${example(wrongUrl)})`);
  if (uncounted.length) lines.push(`LOST: ${uncounted.length} links miss visits a client was redirected by (${example(uncounted)})`);
  if (overcounted.length) lines.push(`WRONG: ${overcounted.length} links counted a visit twice (${example(overcounted)})`);
  const ok = missing.length + wrongUrl.length + uncounted.length + overcounted.length === 0;
  if (ok) lines.push(`every one of them is on the survivor (${slugs.length} links checked): same URL, every told visit counted once`);
  return { ok, lines };
}

export async function verifyState(program: string, url: string, summary: LoadSummary, before?: unknown): Promise<Verdict> {
  if (program.endsWith('counter.js')) return verifyCounter(url, summary);
  if (program.endsWith('bank.js')) return verifyBank(url, summary, before);
  if (program.endsWith('shortener.js')) return verifyShortener(url, summary);
  return { ok: true, lines: ['(no state check for this program: only lost/duplicate answers are checked)'] };
}
