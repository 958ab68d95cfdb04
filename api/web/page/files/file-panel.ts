/**
 * One file as the files view shows it: a header (its name, how it changed, the sizes of both
 * sides) and then, by case, the diff against the base, the file's content (unchanged, added,
 * deleted), both sides when the diff gave up, or a note saying why there is nothing to show
 * (binary, over the size the runtime sends, or a base whose content was not kept).
 */
import type { FileDiff, FileSide } from '../../../../session-runtime/wire/protocol.js';
import { appendText, el, formatSize } from './dom.js';
import { DIFF_TIMEOUT_MS, type Item, type Row, collapseContext, diffRows, splitLines, wholeText } from './diff-model.js';
import { type DiffMode, type SideLines, diffTable } from './diff-view.js';
import { highlightLines, languageFor } from './highlight.js';

/**
 * MAX_DIFF_TEXT_BYTES of the seam (a value import would bring the seam's zod schemas into the
 * page's bundle; tests/browser/files.test.ts checks the two agree).
 */
export const SENT_TEXT_LIMIT_BYTES = 1024 * 1024;

/** What a section of the panel shows: a note, and/or a table that depends on the diff mode. */
interface Section {
  heading?: string;
  note?: string;
  table?: (mode: DiffMode) => HTMLElement;
}

export interface FilePanel {
  element: HTMLElement;
  /** Re-renders the tables for `mode` (the rest is kept). */
  setMode(mode: DiffMode): void;
}

/** The base as a phrase: "the upload", "the restored snapshot". */
export type BaseName = 'upload' | 'restore' | 'none';
const BASE_PHRASE: Record<BaseName, string> = { upload: 'the upload', restore: 'the restored snapshot', none: 'the base' };

function textOf(side: FileSide | null): string | null {
  return side && side.kind === 'text' && typeof side.text === 'string' ? side.text : null;
}

/** "binary, 12.0 KiB" — what a side is when its text is not shown. */
function describeSide(side: FileSide): string {
  const size = formatSize(side.size);
  switch (side.kind) {
    case 'binary':
      return `binary, ${size}`;
    case 'too_large':
      return `${size}, too large to show (the limit is ${formatSize(SENT_TEXT_LIMIT_BYTES)})`;
    case 'not_kept':
      return `${size}, content not kept (over the base store's budget)`;
    default:
      return size;
  }
}

export function filePanel(diff: FileDiff, mode: DiffMode, baseName: BaseName = 'upload'): FilePanel {
  const element = el('article', 'fv-file');
  const language = languageFor(diff.path);
  const basePhrase = BASE_PHRASE[baseName];
  const lines = new Map<string, SideLines>();
  const sideLines = (which: 'base' | 'current', text: string): SideLines => {
    let cached = lines.get(which);
    if (!cached) {
      cached = { lines: highlightLines(text, language).lines };
      lines.set(which, cached);
    }
    return cached;
  };

  element.appendChild(header(diff));
  const sections = plan(diff, basePhrase, sideLines);
  const tables: { holder: HTMLElement; make: (mode: DiffMode) => HTMLElement }[] = [];
  for (const section of sections) {
    const box = element.appendChild(el('section', 'fv-section'));
    if (section.heading) box.appendChild(el('h3', 'fv-heading', section.heading));
    if (section.note) box.appendChild(el('p', 'fv-note', section.note));
    if (section.table) {
      const holder = box.appendChild(el('div', 'fv-scroll'));
      holder.appendChild(section.table(mode));
      tables.push({ holder, make: section.table });
    }
  }
  return {
    element,
    setMode(next) {
      for (const { holder, make } of tables) holder.replaceChildren(make(next));
    },
  };
}

function header(diff: FileDiff): HTMLElement {
  const head = el('header', 'fv-file-head');
  const title = head.appendChild(el('h2', 'fv-file-name'));
  appendText(title, diff.path);
  const badge = diff.change ?? 'unchanged';
  head.appendChild(el('span', `fv-badge fv-badge-${badge}`, badge));
  const sizes: string[] = [];
  if (diff.base && diff.current && diff.change) sizes.push(`${formatSize(diff.base.size)} → ${formatSize(diff.current.size)}`);
  else if (diff.current) sizes.push(formatSize(diff.current.size));
  else if (diff.base) sizes.push(`${formatSize(diff.base.size)} before`);
  head.appendChild(el('span', 'fv-sizes', sizes.join(' ')));
  return head;
}

type SideLinesOf = (which: 'base' | 'current', text: string) => SideLines;

function plan(diff: FileDiff, basePhrase: string, sideLines: SideLinesOf): Section[] {
  const baseText = textOf(diff.base);
  const currentText = textOf(diff.current);
  const listing = (which: 'base' | 'current', text: string): ((mode: DiffMode) => HTMLElement) => () => {
    const side = sideLines(which, text);
    const rows = wholeText(splitLines(text).length, 'context');
    const items: Item[] = rows.map((row) => ({ type: 'row', row }));
    return diffTable(items, 'listing', which === 'base' ? side : null, which === 'current' ? side : null);
  };
  const allOf = (which: 'base' | 'current', text: string, kind: Row['kind']): ((mode: DiffMode) => HTMLElement) => (mode) => {
    const side = sideLines(which, text);
    const items: Item[] = wholeText(splitLines(text).length, kind).map((row) => ({ type: 'row', row }));
    return diffTable(items, mode, which === 'base' ? side : null, which === 'current' ? side : null);
  };

  if (!diff.change) {
    if (!diff.current) return [{ note: 'This file is not in the workspace.' }];
    if (currentText === null) return [{ note: `Unchanged since ${basePhrase}: ${describeSide(diff.current)}.` }];
    return [{ note: `Unchanged since ${basePhrase}.`, table: listing('current', currentText) }];
  }
  if (diff.change === 'added' || !diff.base) {
    if (!diff.current) return [{ note: 'Added, then gone: nothing to show.' }];
    if (currentText === null) return [{ note: `Added since ${basePhrase}: ${describeSide(diff.current)}.` }];
    return [{ note: `Added since ${basePhrase}.`, table: allOf('current', currentText, 'add') }];
  }
  if (diff.change === 'deleted' || !diff.current) {
    if (baseText === null) return [{ note: `Deleted since ${basePhrase}; it was ${describeSide(diff.base)}.` }];
    return [{ note: `Deleted since ${basePhrase}.`, table: allOf('base', baseText, 'del') }];
  }
  if (baseText === null || currentText === null) {
    const sections: Section[] = [{ note: `Changed since ${basePhrase}. Before: ${describeSide(diff.base)}. Now: ${describeSide(diff.current)}.` }];
    if (currentText !== null) sections.push({ heading: 'Now', table: listing('current', currentText) });
    else if (baseText !== null) sections.push({ heading: 'Before', table: listing('base', baseText) });
    return sections;
  }
  const rows = diffRows(splitLines(baseText), splitLines(currentText));
  if (!rows) {
    return [
      { note: `Too different to diff (gave up after ${DIFF_TIMEOUT_MS} ms); showing both sides.` },
      { heading: `Before (${basePhrase})`, table: listing('base', baseText) },
      { heading: 'Now', table: listing('current', currentText) },
    ];
  }
  if (rows.every((row) => row.kind === 'context')) {
    const why = baseText.replace(/\n$/, '') === currentText.replace(/\n$/, '') ? 'only the newline at the end of the file changed' : 'no line changed';
    return [{ note: `Changed since ${basePhrase}, but ${why}.`, table: listing('current', currentText) }];
  }
  const items = collapseContext(rows);
  return [
    {
      table: (mode) => diffTable(items, mode, sideLines('base', baseText), sideLines('current', currentText)),
    },
  ];
}
