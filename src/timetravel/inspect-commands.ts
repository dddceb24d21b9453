// The inspect session's command language, one command a line: `.at N`, `.next`, `.prev`, `.entry`,
// `.effects`, `.find TEXT`, `.help`, or an expression to evaluate. Each gives one result object
// (`ok` true with the result, or false with the error's code and message), printed as one JSON line
// when stdin is not a terminal, so scripts and tests can drive a session.
import { LockstepError } from '../errors.js';
import { entryFields } from '../cli/log-command.js';
import { outputLine } from '../cli/replay-command.js';
import { InspectCommandError } from './errors.js';
import type { InspectSession, Position } from './inspect-session.js';

export type CommandResult = ({ ok: true } & Record<string, unknown>) | { ok: false; code: string; error: string };

export const INSPECT_COMMANDS_HELP = [
  '.at N       the state right after the event that contains entry #N',
  '.next       the state after the next event',
  '.prev       the state after the previous event (replayed from the newest saved state before it)',
  '.entry      the current event: its entries (the event and the values it read)',
  '.effects    what the current event put out: answers, file writes, console lines',
  '.find TEXT  the next request whose path or body contains TEXT',
  '.help       this list',
  'EXPR        any other line: a JavaScript expression evaluated in the guest\'s global scope',
];

export async function runInspectCommand(session: InspectSession, line: string): Promise<CommandResult> {
  try {
    return await dispatch(session, line.trim());
  } catch (error) {
    if (error instanceof LockstepError) return { ok: false, code: error.code, error: error.message };
    throw error;
  }
}

async function dispatch(session: InspectSession, line: string): Promise<CommandResult> {
  if (!line.startsWith('.')) {
    const value = await session.evaluate(line);
    return value === undefined ? { ok: true, at: session.position, undefined: true, value: null } : { ok: true, at: session.position, value };
  }
  const [command, ...rest] = line.split(/\s+/);
  const argument = line.slice(command.length).trim();
  switch (command) {
    case '.at': {
      const n = Number(rest[0]);
      if (rest.length !== 1 || !Number.isSafeInteger(n)) throw new InspectCommandError(`.at takes one entry number (e.g. .at 12), not ${JSON.stringify(argument)}.`);
      return moved(await session.goTo(n));
    }
    case '.next':
      return moved(await session.next());
    case '.prev':
      return moved(await session.prev());
    case '.find':
      if (argument === '') throw new InspectCommandError('.find takes the text to look for in request paths and bodies (e.g. .find /increment).');
      return moved(await session.find(argument));
    case '.entry':
      return { ok: true, at: session.position, entries: session.currentEntries().map(({ seq, entry }) => ({ seq, ...entryFields(entry) })) };
    case '.effects': {
      const effects = session.effects().map((effect) => JSON.parse(outputLine(effect)) as Record<string, unknown>);
      const pick = (type: string) => effects.filter((e) => e.type === type).map(({ type: _type, ...rest }) => rest);
      return { ok: true, at: session.position, answered: pick('respond'), wrote: pick('write'), logged: pick('console') };
    }
    case '.help':
      return { ok: true, help: INSPECT_COMMANDS_HELP };
    default:
      throw new InspectCommandError(`Unknown command ${command}. Commands: ${INSPECT_COMMANDS_HELP.map((h) => h.split(/\s+/)[0]).join(', ')}.`);
  }
}

function moved(position: Position): CommandResult {
  return { ok: true, ...position };
}
