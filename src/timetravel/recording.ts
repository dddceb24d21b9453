// Reading a recorded log for time travel: the whole log in memory, or an error people can act on
// when the file is not there (the log reader's own errors cover damaged and foreign logs).
import { readLogFile, type LogContents } from '../log/log-file.js';
import { LogUnreadableError } from './errors.js';

export function readRecording(logPath: string): LogContents {
  try {
    return readLogFile(logPath);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR' || code === 'ENOTDIR') throw new LogUnreadableError(logPath, code);
    throw error;
  }
}
