// Two answers side by side as a diff (like `diff -y`): the recorded one on the left, the new
// program's on the right; `|` marks a line that differs, `<` and `>` a line only one side has.
// A JSON body is shown pretty-printed, so a changed field is one line.
import { isUtf8 } from 'node:buffer';
import type { Answer } from './answers-file.js';

/** Lines per side that are compared; the rest is summarized (the alignment is quadratic). */
const DIFF_LINES_MAX = 400;
/** Characters per column. */
const COLUMN_CHARS_MAX = 60;

export function answersEqual(a: Answer, b: Answer): boolean {
  if (a.status !== b.status || Buffer.compare(Buffer.from(a.body), Buffer.from(b.body)) !== 0) return false;
  const ha = Object.entries(a.headers).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0));
  const hb = Object.entries(b.headers).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0));
  return ha.length === hb.length && ha.every(([name, value], i) => hb[i][0] === name && hb[i][1] === value);
}

/** An answer as lines: the status, the headers (sorted), a blank line, the body. */
export function answerLines(answer: Answer | null): string[] {
  if (answer === null) return ['(no answer)'];
  const headers = Object.entries(answer.headers)
    .sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))
    .map(([name, value]) => `${name}: ${value}`);
  return [`status ${answer.status}`, ...headers, '', ...bodyLines(answer.body)];
}

function bodyLines(body: Uint8Array): string[] {
  const bytes = Buffer.from(body.buffer, body.byteOffset, body.length);
  if (bytes.length === 0) return ['(empty body)'];
  if (!isUtf8(bytes)) return [`(${bytes.length} bytes, not UTF-8) base64 ${bytes.toString('base64')}`];
  const text = bytes.toString('utf8');
  try {
    return JSON.stringify(JSON.parse(text), null, 2).split('\n');
  } catch {
    return text.split('\n');
  }
}

/** The side-by-side diff of two answers' lines, one row per aligned pair. */
export function sideBySide(left: string[], right: string[]): string[] {
  const a = left.slice(0, DIFF_LINES_MAX);
  const b = right.slice(0, DIFF_LINES_MAX);
  // Longest common subsequence, then a walk that pairs unmatched runs as changed lines.
  const lcs: number[][] = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--) for (let j = b.length - 1; j >= 0; j--) lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
  const width = Math.min(COLUMN_CHARS_MAX, Math.max(8, ...a.map((l) => l.length)));
  const cell = (text: string) => (text.length > width ? text.slice(0, width - 1) + '…' : text.padEnd(width));
  const rows: string[] = [];
  let i = 0;
  let j = 0;
  let onlyLeft: string[] = [];
  let onlyRight: string[] = [];
  const flush = () => {
    for (let k = 0; k < Math.max(onlyLeft.length, onlyRight.length); k++) {
      const l = onlyLeft[k];
      const r = onlyRight[k];
      rows.push(`${cell(l ?? '')} ${l !== undefined && r !== undefined ? '|' : l !== undefined ? '<' : '>'} ${r ?? ''}`.trimEnd());
    }
    onlyLeft = [];
    onlyRight = [];
  };
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      flush();
      rows.push(`${cell(a[i])}   ${b[j]}`.trimEnd());
      i++;
      j++;
    } else if (j >= b.length || (i < a.length && lcs[i + 1][j] >= lcs[i][j + 1])) {
      onlyLeft.push(a[i++]);
    } else {
      onlyRight.push(b[j++]);
    }
  }
  flush();
  if (left.length > a.length || right.length > b.length) rows.push(`(${left.length - a.length} more recorded lines, ${right.length - b.length} more new lines not compared)`);
  return rows;
}
