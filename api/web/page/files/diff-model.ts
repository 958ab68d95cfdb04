/**
 * The line diff behind the files view, as plain data (no DOM): which lines of the base and the
 * current text are kept, removed or added, where unchanged stretches collapse, and how removed and
 * added lines pair up side by side. Computed in the browser with jsdiff's Myers diff over lines,
 * bounded in time: a pair of texts too different to diff within DIFF_TIMEOUT_MS gives `null`
 * (the view then shows both sides), so a pathological upload cannot hang the tab.
 */
import { diffArrays } from 'diff';

/** Above this the diff gives up (jsdiff's `timeout`, checked once per edit distance step). */
export const DIFF_TIMEOUT_MS = 400;
/** Unchanged lines kept visible around each change. */
export const CONTEXT_LINES = 3;

export type RowKind = 'context' | 'add' | 'del';
/** One line of the diff; indexes are 0-based lines of the base (`old`) and current (`new`) text. */
export interface Row {
  kind: RowKind;
  old: number | null;
  new: number | null;
}
/** A row shown, or a stretch of unchanged rows shown as one "N unchanged lines" expander. */
export type Item = { type: 'row'; row: Row } | { type: 'gap'; rows: Row[] };

/** `text` split into lines; a final newline ends the last line rather than starting an empty one. */
export function splitLines(text: string): string[] {
  if (text === '') return [];
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/** Every line of a text as one kind of row (an added file: all `add`; a listing: all `context`). */
export function wholeText(count: number, kind: RowKind): Row[] {
  const rows: Row[] = new Array<Row>(count);
  for (let i = 0; i < count; i++) rows[i] = { kind, old: kind === 'add' ? null : i, new: kind === 'del' ? null : i };
  return rows;
}

/** The rows of the line diff of `base` → `current`, or null when it ran past `timeoutMs`. */
export function diffRows(base: string[], current: string[], timeoutMs = DIFF_TIMEOUT_MS): Row[] | null {
  const changes = diffArrays(base, current, { timeout: timeoutMs });
  if (!changes) return null;
  const rows: Row[] = [];
  let oldIndex = 0;
  let newIndex = 0;
  for (const change of changes) {
    for (let i = 0; i < change.count; i++) {
      if (change.added) rows.push({ kind: 'add', old: null, new: newIndex++ });
      else if (change.removed) rows.push({ kind: 'del', old: oldIndex++, new: null });
      else rows.push({ kind: 'context', old: oldIndex++, new: newIndex++ });
    }
  }
  return rows;
}

/**
 * Rows with unchanged stretches farther than `context` lines from a change folded into gaps (a
 * gap of fewer than `minGap` lines stays open: an expander would hide less than it takes).
 */
export function collapseContext(rows: Row[], context = CONTEXT_LINES, minGap = 4): Item[] {
  const keep = new Uint8Array(rows.length);
  rows.forEach((row, index) => {
    if (row.kind === 'context') return;
    for (let i = Math.max(0, index - context); i <= Math.min(rows.length - 1, index + context); i++) keep[i] = 1;
  });
  const items: Item[] = [];
  let index = 0;
  while (index < rows.length) {
    if (keep[index]) {
      items.push({ type: 'row', row: rows[index]! });
      index++;
      continue;
    }
    let end = index;
    while (end < rows.length && !keep[end]) end++;
    const stretch = rows.slice(index, end);
    if (stretch.length >= minGap) items.push({ type: 'gap', rows: stretch });
    else for (const row of stretch) items.push({ type: 'row', row });
    index = end;
  }
  return items;
}

/** One row of the side-by-side view: the base's line on the left, the current's on the right. */
export interface Pair {
  left: Row | null;
  right: Row | null;
}

/** Rows paired for side by side: a run of removals beside the run of additions that follows it. */
export function pairRows(rows: Row[]): Pair[] {
  const pairs: Pair[] = [];
  let index = 0;
  while (index < rows.length) {
    const row = rows[index]!;
    if (row.kind === 'context') {
      pairs.push({ left: row, right: row });
      index++;
      continue;
    }
    const removed: Row[] = [];
    const added: Row[] = [];
    while (index < rows.length && rows[index]!.kind !== 'context') {
      const next = rows[index]!;
      (next.kind === 'del' ? removed : added).push(next);
      index++;
    }
    for (let i = 0; i < Math.max(removed.length, added.length); i++) pairs.push({ left: removed[i] ?? null, right: added[i] ?? null });
  }
  return pairs;
}
