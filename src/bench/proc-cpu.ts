// CPU time of another process, from /proc/<pid>/stat (utime + stime): process.cpuUsage() only
// covers the calling process. Linux only; undefined elsewhere or once the process is gone.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

let ticksPerS: number | undefined;

function clockTicks(): number {
  if (ticksPerS === undefined) {
    try {
      ticksPerS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerS = 100;
    }
  }
  return ticksPerS;
}

/** utime + stime of `pid` in milliseconds (resolution: one clock tick, usually 10 ms). */
export function cpuMsOf(pid: number | undefined): number | undefined {
  if (!pid) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: split after its closing ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state), so utime (field 14) is fields[11] and stime (15) fields[12].
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicks();
  } catch {
    return undefined;
  }
}
