/**
 * The diff (or content) of one file as a table: unified (old and new line numbers, a sign, the
 * line) or side by side (base left, current right), added and removed lines coloured, unchanged
 * stretches folded into "N unchanged lines" rows that open in place. Rendering is bounded: at most
 * ROW_CHUNK rows at a time behind a "show more" row, and a line longer than MAX_LINE_CHARS is cut
 * with a note, so a 100k-line or 1 MB-line file costs what its first screens cost.
 */
import { appendText, button, el } from './dom.js';
import { type Item, type Pair, type Row, pairRows } from './diff-model.js';
import type { Line } from './highlight.js';

export const ROW_CHUNK = 1000;
export const MAX_LINE_CHARS = 5000;

export type DiffMode = 'unified' | 'split';
/** A text's lines, highlighted (or plain): what a line number points at. */
export interface SideLines {
  lines: Line[];
}

/** One unit of the table: a row (unified), a pair (side by side) or a folded stretch. */
type Unit = { type: 'row'; row: Row } | { type: 'pair'; pair: Pair } | { type: 'gap'; rows: Row[] };

/** Table rows for `items` (or a listing of one side: `listing` names it), `ROW_CHUNK` at a time. */
export function diffTable(items: Item[], mode: DiffMode | 'listing', base: SideLines | null, current: SideLines | null): HTMLElement {
  const table = el('table', `fv-table fv-table-${mode}`);
  const body = table.appendChild(el('tbody'));
  const units = toUnits(items, mode);
  const columns = mode === 'split' ? 4 : mode === 'unified' ? 4 : 2;

  const renderUnit = (unit: Unit): HTMLTableRowElement => {
    if (unit.type === 'gap') return gapRow(unit.rows);
    if (unit.type === 'pair') return pairRow(unit.pair, base, current);
    return mode === 'listing' ? listingRow(unit.row, base ?? current) : unifiedRow(unit.row, base, current);
  };

  /** Renders `list` from `start` before `anchor` (null: at the end), ROW_CHUNK at most. */
  const renderFrom = (list: Unit[], start: number, anchor: ChildNode | null) => {
    const end = Math.min(list.length, start + ROW_CHUNK);
    const fragment = document.createDocumentFragment();
    for (let i = start; i < end; i++) fragment.appendChild(renderUnit(list[i]!));
    if (end < list.length) {
      const more = el('tr', 'fv-more');
      const cell = more.appendChild(el('td'));
      cell.colSpan = columns;
      cell.appendChild(button(`Show ${Math.min(ROW_CHUNK, list.length - end)} more lines (${(list.length - end).toLocaleString('en')} left)`, 'fv-link', () => {
        const next = more.nextSibling;
        more.remove();
        renderFrom(list, end, next);
      }));
      fragment.appendChild(more);
    }
    body.insertBefore(fragment, anchor);
  };

  const gapRow = (rows: Row[]): HTMLTableRowElement => {
    const tr = el('tr', 'fv-gap');
    const cell = tr.appendChild(el('td'));
    cell.colSpan = columns;
    cell.appendChild(button(`⋯ ${rows.length.toLocaleString('en')} unchanged line${rows.length === 1 ? '' : 's'}`, 'fv-link', () => {
      const next = tr.nextSibling;
      tr.remove();
      const expanded: Unit[] = rows.map((row) => (mode === 'split' ? { type: 'pair', pair: { left: row, right: row } } : { type: 'row', row }));
      renderFrom(expanded, 0, next);
    }));
    return tr;
  };

  renderFrom(units, 0, null);
  return table;
}

function toUnits(items: Item[], mode: DiffMode | 'listing'): Unit[] {
  if (mode !== 'split') return items.map((item) => (item.type === 'gap' ? item : { type: 'row', row: item.row }));
  const units: Unit[] = [];
  let run: Row[] = [];
  const flush = () => {
    for (const pair of pairRows(run)) units.push({ type: 'pair', pair });
    run = [];
  };
  for (const item of items) {
    if (item.type === 'row') run.push(item.row);
    else {
      flush();
      units.push(item);
    }
  }
  flush();
  return units;
}

const SIGN: Record<Row['kind'], string> = { context: ' ', add: '+', del: '-' };

function numberCell(index: number | null, kind: string): HTMLTableCellElement {
  return el('td', `fv-ln fv-${kind}`, index === null ? '' : String(index + 1));
}

function unifiedRow(row: Row, base: SideLines | null, current: SideLines | null): HTMLTableRowElement {
  const tr = el('tr', `fv-r fv-${row.kind}`);
  tr.append(numberCell(row.old, row.kind), numberCell(row.new, row.kind), el('td', `fv-sign fv-${row.kind}`, SIGN[row.kind]));
  const side = row.kind === 'del' ? base : current;
  const index = row.kind === 'del' ? row.old : row.new;
  tr.appendChild(codeCell(side, index, row.kind));
  return tr;
}

function pairRow(pair: Pair, base: SideLines | null, current: SideLines | null): HTMLTableRowElement {
  const tr = el('tr', 'fv-r');
  const left = pair.left;
  const right = pair.right;
  const leftKind = left ? (left.kind === 'context' ? 'context' : 'del') : 'empty';
  const rightKind = right ? (right.kind === 'context' ? 'context' : 'add') : 'empty';
  tr.append(numberCell(left ? left.old : null, leftKind), codeCell(base, left ? left.old : null, leftKind));
  tr.append(numberCell(right ? right.new : null, rightKind), codeCell(current, right ? right.new : null, rightKind));
  return tr;
}

function listingRow(row: Row, side: SideLines | null): HTMLTableRowElement {
  const index = row.new ?? row.old;
  const tr = el('tr', 'fv-r fv-context');
  tr.append(numberCell(index, 'context'), codeCell(side, index, 'context'));
  return tr;
}

/** The code of line `index` of `side`, its runs as spans; cut at MAX_LINE_CHARS. */
function codeCell(side: SideLines | null, index: number | null, kind: string): HTMLTableCellElement {
  const td = el('td', `fv-code fv-${kind}`);
  const line = side && index !== null ? side.lines[index] : undefined;
  if (!line) return td;
  let room = MAX_LINE_CHARS;
  let total = 0;
  for (const run of line) total += run.text.length;
  // a CRLF file's '\r' ends each line: not worth a badge on every row
  const lastRun = line[line.length - 1];
  const trimCr = lastRun?.text.endsWith('\r') ? 1 : 0;
  total -= trimCr;
  line.forEach((run, position) => {
    if (room <= 0) return;
    let text = position === line.length - 1 && trimCr ? run.text.slice(0, -1) : run.text;
    if (text.length > room) text = text.slice(0, room);
    room -= text.length;
    appendText(td, text, run.cls || undefined);
  });
  if (total > MAX_LINE_CHARS) td.appendChild(el('span', 'fv-cut', ` … ${(total - MAX_LINE_CHARS).toLocaleString('en')} more characters on this line`));
  return td;
}
