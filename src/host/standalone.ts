// `lockstep run`: one node serving the guest over HTTP with no replication (the baseline),
// optionally recording its log to a file for offline replay.
import { mkdir } from 'node:fs/promises';
import { assert } from '../assert.js';
import type { Executor } from '../engine/executor.js';
import { loadProgram, makeHeader } from '../engine/program.js';
import type { Entry, GuestLimits } from '../log/entries.js';
import { LogWriter } from '../log/log-file.js';
import { DEFAULT_GUEST_LIMITS } from '../sandbox/guest.js';
import { startServiceServer, type ServiceServer } from '../http/service-server.js';
import { closeJournal, dataDirOf, recoverJournal } from './data-dir.js';
import { LiveHost } from './live-host.js';
import { refuseIfOwned } from '../replication/ownership.js';
import { identityOf } from '../checkpoint/checkpoint.js';
import { RecordingCheckpoints } from '../checkpoint/recording-policy.js';
import { clearCheckpointFiles } from '../checkpoint/sidecar.js';
import { AnswersWriter } from '../timetravel/answers-file.js';

export interface StandaloneOptions {
  program: string;
  host?: string;
  port?: number;
  dir: string;
  record?: string;
  limits?: Partial<GuestLimits>;
  bodyBytesMax?: number;
  /** With `record`: take a checkpoint (a file beside the log) once this many entries were logged since the last. */
  checkpointEveryEntries?: number;
  /** Checkpoint files kept beside the log (the newest). */
  checkpointsKept?: number;
  /** With checkpoints: past this many bytes the log is cut at the newest checkpoint. */
  recordBytesMax?: number;
  onConsole?: (level: string, text: string) => void;
  /** The guest files' write journal, in bytes at most (default JOURNAL_BYTES_MAX_DEFAULT). */
  journalBytesMax?: number;
}

export interface Standalone {
  port: number;
  executor: Executor;
  stop(): Promise<void>;
}

/** Writes entries as they come, in frames flushed once per turn of the event loop. */
export class Recorder {
  private scheduled = false;
  constructor(readonly writer: LogWriter) {}

  append(seq: number, entry: Entry): void {
    const last = this.writer.append([entry]);
    assert(last === seq, `recorder numbering: wrote #${last} for entry #${seq}`);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        void this.writer.flush();
      });
    }
  }
}

export async function startStandalone(options: StandaloneOptions): Promise<Standalone> {
  await refuseIfOwned(options.dir);
  const program = await loadProgram(options.program);
  const limits: GuestLimits = { ...DEFAULT_GUEST_LIMITS, ...options.limits };
  await mkdir(dataDirOf(options.dir), { recursive: true });
  // Writes that completed before a crash may be only in the journal: into their files before anything reads them.
  await recoverJournal(dataDirOf(options.dir));
  // A new recording starts without the checkpoint files of an older one at the same path.
  if (options.record) await clearCheckpointFiles(options.record);
  const recorder = options.record ? new Recorder(await LogWriter.create(options.record, makeHeader(program, limits))) : undefined;
  // The answers released, beside the log: `lockstep upgrade-check` compares a new program's with them.
  const answers = options.record ? await AnswersWriter.create(options.record, program.name, program.hash) : undefined;
  // The gate is open: an output is released as it is produced.
  const host = await LiveHost.boot(
    { dir: options.dir, journalBytesMax: options.journalBytesMax, onConsole: options.onConsole, onEntry: recorder ? (seq, entry) => recorder.append(seq, entry) : undefined },
    { source: program.source, programName: program.name, limits },
    (hooks) => (answers ? answers.wrapHooks(hooks) : hooks),
  );
  const { executor } = host;
  let checkpoints: RecordingCheckpoints | undefined;
  if (options.record && options.checkpointEveryEntries) {
    const policy = new RecordingCheckpoints(executor, identityOf(program, limits), {
      logPath: options.record,
      everyEntries: options.checkpointEveryEntries,
      keptMax: options.checkpointsKept,
      recordBytesMax: options.recordBytesMax,
      log: recorder && answers && {
        get bytesWritten() {
          return recorder.writer.bytesWritten;
        },
        cutBefore: (fromSeq: number) => recorder.writer.cutBefore(fromSeq).then(() => answers.cutBefore(fromSeq)),
      },
    });
    host.setAfterEvent(() => policy.afterEvent());
    checkpoints = policy;
  }
  const started = Date.now();
  let server: ServiceServer;
  try {
    server = await startServiceServer(
      { host: options.host ?? '127.0.0.1', port: options.port ?? 8080, bodyBytesMax: options.bodyBytesMax },
      {
        role: () => 'standalone',
        handle: (request, abandoned) => host.handleRequest(request, abandoned),
        status: () => ({
          role: 'standalone',
          program: program.name,
          lastSeq: executor.lastSeq,
          events: executor.eventsDelivered,
          uptimeMs: Date.now() - started,
          recording: options.record ?? null,
        }),
        epoch: () => undefined,
      },
    );
  } catch (error) {
    // A failed start releases what it took; the guest's timers would fire into a disposed guest.
    host.stop();
    await checkpoints?.close();
    executor.dispose();
    await recorder?.writer.close();
    await answers?.close(executor.lastSeq);
    throw error;
  }
  let stopping: Promise<void> | undefined;
  return {
    port: server.port,
    executor,
    stop: () =>
      (stopping ??= (async () => {
        await server.close();
        host.stop();
        // A clean stop leaves the files up to date and the journal empty.
        await closeJournal(dataDirOf(options.dir)).catch(() => {});
        await checkpoints?.close();
        // A final check lets a replay confirm every output up to the very end.
        if (recorder) executor.logCheck();
        await recorder?.writer.close();
        await answers?.close(executor.lastSeq);
        executor.dispose();
      })()),
  };
}
