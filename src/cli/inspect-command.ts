// `lockstep inspect <log> <program>`: the guest's state at any entry of a recording. With --eval, one
// expression evaluated after the event that contains entry --at (default: the end), printed as JSON.
// Without it, a session of commands (see src/timetravel/inspect-commands.ts): a prompt on a terminal,
// else one command a line from stdin and one JSON result a line on stdout.
import { createInterface } from 'node:readline';
import { InspectSession } from '../timetravel/inspect-session.js';
import { INSPECT_COMMANDS_HELP, runInspectCommand } from '../timetravel/inspect-commands.js';
import { parseInteger } from './options.js';

export interface InspectFlags {
  at?: string;
  eval?: string;
  /** false with --no-checkpoints. */
  checkpoints?: boolean;
  verbose?: boolean;
}

export interface InspectIo {
  out: (line: string) => void;
  err: (line: string) => void;
  input: NodeJS.ReadableStream;
  interactive: boolean;
}

export const INSPECT_HELP = `
EXPR runs in the guest's global scope, with \`program\` bound to the program module's exports; a
module's own let/const are not reachable, so ask the guest itself: program.default.fetch({...}).
Whatever EXPR changes is undone before the next command.

Examples:
  lockstep inspect counter.log guest-programs/counter.js --at 12 --eval 'program.default.fetch({ method: "GET", path: "/count" })'
  lockstep inspect counter.log guest-programs/counter.js --at 12          (a session: .at N, .next, .prev, .entry, .effects, .find TEXT, EXPR)
  printf '.at 12\\n.entry\\n.effects\\n' | lockstep inspect counter.log guest-programs/counter.js

Exit codes: 0 ok, 1 the expression threw (the guest's message is printed), 2 no such entry (or usage),
3 the log does not replay (divergence), 4 bad log or checkpoint, 5 the program does not load.`;

export async function inspectCommand(logPath: string, programPath: string, flags: InspectFlags, io: InspectIo): Promise<number> {
  const at = parseInteger(flags.at, '--at', 0, Number.MAX_SAFE_INTEGER);
  const oneShot = flags.eval !== undefined;
  const session = await InspectSession.open(logPath, programPath, { useCheckpoints: flags.checkpoints !== false, sessionSnapshots: !oneShot });
  try {
    const position = await session.goTo(at ?? session.lastSeq);
    if (flags.verbose || (io.interactive && !oneShot)) io.err(`state after #${position.lastSeq} (${position.event?.description ?? 'the cut'}); from ${position.from}, ${position.replayed} entries replayed`);
    if (oneShot) {
      const value = await session.evaluate(flags.eval!);
      io.out(value === undefined ? 'undefined' : JSON.stringify(value));
      return 0;
    }
    if (io.interactive) io.err(`commands: ${INSPECT_COMMANDS_HELP.map((h) => h.split(/\s+/)[0]).join(' ')} (Ctrl-D ends)`);
    const lines = createInterface({ input: io.input, output: io.interactive ? process.stdout : undefined, terminal: io.interactive });
    const prompt = () => {
      if (!io.interactive) return;
      lines.setPrompt(`#${session.position}> `);
      lines.prompt();
    };
    prompt();
    for await (const line of lines) {
      if (line.trim() === '') {
        prompt();
        continue;
      }
      const result = await runInspectCommand(session, line);
      io.out(io.interactive ? JSON.stringify(result, null, 2) : JSON.stringify(result));
      prompt();
    }
    return 0;
  } finally {
    session.dispose();
  }
}
