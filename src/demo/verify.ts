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

export async function verifyState(program: string, url: string, summary: LoadSummary, before?: unknown): Promise<Verdict> {
  if (program.endsWith('counter.js')) return verifyCounter(url, summary);
  if (program.endsWith('bank.js')) return verifyBank(url, summary, before);
  return { ok: true, lines: ['(no state check for this program: only lost/duplicate answers are checked)'] };
}
