// Records the golden logs in test/fixtures/golden: each guest program runs in a real `lockstep run`
// process under generated load (every kind of request it serves, timers, disk reads and writes), is
// stopped with SIGTERM (so its log ends with a final check), and a tampered copy is written next to it.
// Run after changing a guest program or the log format:  npx tsc -p . && npx tsx scripts/record-fixtures.ts
import { mkdtemp, rm, writeFile, mkdir, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DivergenceError } from '../src/errors.js';
import { replayLog } from '../src/engine/offline-replay.js';
import type { Entry } from '../src/log/entries.js';
import { LogWriter, readLogFile } from '../src/log/log-file.js';
import { assertBuilt, Client, driveGuest, GOLDEN_DIR, GUEST_NAMES, guestPath, startRun, type GuestName } from './record-fixtures.lib.js';

export interface GoldenManifestEntry {
  program: string;
  entries: number;
  events: number;
  finalDigest: string;
  tamper: { seq: number; change: string; divergesAt: number };
}

async function record(name: GuestName): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), `lockstep-golden-${name}-`));
  const logPath = join(GOLDEN_DIR, `${name}.log`);
  try {
    const node = await startRun(guestPath(name), ['--dir', dir, '--record', logPath]);
    await driveGuest(name, new Client(node.port));
    const result = await node.stop();
    if (result.code !== 0) throw new Error(`lockstep run for ${name} exited ${result.code}:\n${result.stderr}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Candidate changes, most telling first: a request body, then a clock value, from the middle of the log on. */
function* tamperings(entries: Entry[]): Generator<{ seq: number; entry: Entry; change: string }> {
  const from = Math.floor(entries.length / 3);
  const order = [...entries.keys()].slice(from).concat([...entries.keys()].slice(0, from));
  for (const i of order) {
    const e = entries[i]!;
    if (e.kind === 'request' && e.body.length > 0) {
      const text = new TextDecoder().decode(e.body);
      const body = /\d/.test(text) ? text.replace(/\d/, (d) => String((Number(d) + 1) % 10)) : text + 'x';
      yield { seq: i + 1, entry: { ...e, body: new TextEncoder().encode(body) }, change: `request body ${JSON.stringify(text)} -> ${JSON.stringify(body)}` };
    }
  }
  for (const i of order) {
    const e = entries[i]!;
    if (e.kind === 'now' && i > 2) yield { seq: i + 1, entry: { ...e, ms: e.ms + 86_400_000 }, change: `value now ${e.ms} -> ${e.ms + 86_400_000} (a day later)` };
  }
}

/** Writes a well-formed copy whose content differs, and checks that replay reports it as a divergence. */
async function tamper(name: GuestName): Promise<GoldenManifestEntry> {
  const logPath = join(GOLDEN_DIR, `${name}.log`);
  const tamperedPath = join(GOLDEN_DIR, `${name}.tampered.log`);
  const { header, entries } = readLogFile(logPath);
  const summary = await replayLog(logPath, guestPath(name));
  const finalCheck = entries.at(-1);
  if (finalCheck?.kind !== 'check' || finalCheck.digest !== summary.outputsDigest) throw new Error(`${name}: the log does not end with a check equal to the replay digest`);
  for (const candidate of tamperings(entries)) {
    const copy = entries.slice();
    copy[candidate.seq - 1] = candidate.entry;
    const writer = await LogWriter.create(tamperedPath, header);
    writer.append(copy);
    await writer.close();
    try {
      await replayLog(tamperedPath, guestPath(name));
    } catch (error) {
      if (!(error instanceof DivergenceError)) throw error;
      return {
        program: `guest-programs/${name}.js`,
        entries: entries.length,
        events: summary.events,
        finalDigest: summary.outputsDigest,
        tamper: { seq: candidate.seq, change: candidate.change, divergesAt: error.seq },
      };
    }
  }
  throw new Error(`${name}: no single change made the replay diverge`);
}

async function main(): Promise<void> {
  assertBuilt();
  await mkdir(GOLDEN_DIR, { recursive: true });
  const manifest: Record<string, GoldenManifestEntry> = {};
  for (const name of GUEST_NAMES) {
    await record(name);
    manifest[name] = await tamper(name);
    const bytes = (await stat(join(GOLDEN_DIR, `${name}.log`))).size;
    console.log(`${name}: ${manifest[name]!.entries} entries, ${bytes} bytes, digest ${manifest[name]!.finalDigest}; tampered entry #${manifest[name]!.tamper.seq} (${manifest[name]!.tamper.change}) diverges at #${manifest[name]!.tamper.divergesAt}`);
  }
  await writeFile(join(GOLDEN_DIR, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
