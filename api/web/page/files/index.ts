/**
 * The files view of a session's page (issue 24): the workspace tree with the changed files first,
 * and the selected file's diff against the base (the upload, or the snapshot a resume restored),
 * unified or side by side, syntax highlighted. Read-only. The page mounts it with a FilesSource
 * (the owner's `sessionFiles`/`sessionFileDiff`, or a share link's `shareFiles`/`shareFileDiff`).
 *
 * Every name and byte shown came from the session machine; this view creates every element itself
 * and sets text with `textContent` only (./dom.ts). Security cases 86–88 in tests/security/README.md.
 */
import './files.css';
import type { FileDiff, FileTree } from '../../../../session-runtime/wire/protocol.js';
import { button, el } from './dom.js';
import type { DiffMode } from './diff-view.js';
import { type FilePanel, filePanel } from './file-panel.js';
import { buildTree } from './tree-model.js';
import { type TreeView, treeView } from './tree-view.js';

export interface FilesSource {
  tree(): Promise<FileTree>;
  diff(path: string): Promise<FileDiff>;
}

/** Side by side needs at least this width; narrower, the view shows unified. */
const NARROW = '(max-width: 760px)';

const BASE_LINE: Record<FileTree['base'], string> = {
  upload: 'Changes since the upload.',
  restore: 'Changes since the restored snapshot.',
  none: 'Nothing was uploaded yet: no base to compare with.',
};

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export function renderFiles(container: HTMLElement, source: FilesSource): { dispose(): void } {
  const root = el('div', 'fv');
  const bar = root.appendChild(el('div', 'fv-bar'));
  bar.appendChild(button('← Files', 'fv-button fv-back', () => select(null)));
  bar.appendChild(el('h1', 'fv-title', 'Files'));
  const baseLine = bar.appendChild(el('span', 'fv-base'));
  const status = bar.appendChild(el('span', 'fv-status'));
  status.setAttribute('role', 'status');
  const modeBox = bar.appendChild(el('div', 'fv-modes'));
  modeBox.setAttribute('role', 'group');
  modeBox.setAttribute('aria-label', 'Diff layout');
  const unifiedButton = modeBox.appendChild(button('Unified', 'fv-button fv-mode', () => setMode('unified')));
  const splitButton = modeBox.appendChild(button('Side by side', 'fv-button fv-mode', () => setMode('split')));
  const refreshButton = bar.appendChild(button('Refresh', 'fv-button fv-refresh', () => void loadTree()));

  const main = root.appendChild(el('div', 'fv-main'));
  const side = main.appendChild(el('nav', 'fv-side'));
  side.setAttribute('aria-label', 'Workspace files');
  const pane = main.appendChild(el('div', 'fv-pane'));
  pane.appendChild(el('p', 'fv-placeholder', 'Select a file to see its changes.'));
  container.appendChild(root);

  const expanded = new Set<string>();
  let selected: string | null = null;
  let tree: TreeView | null = null;
  let panel: FilePanel | null = null;
  let chosenMode: DiffMode = 'unified';
  let baseName: FileTree['base'] = 'upload';
  let disposed = false;
  let treeRequest = 0;
  let diffRequest = 0;

  const narrow = window.matchMedia(NARROW);
  const effectiveMode = (): DiffMode => (narrow.matches ? 'unified' : chosenMode);
  const showModes = () => {
    const mode = effectiveMode();
    unifiedButton.setAttribute('aria-pressed', String(mode === 'unified'));
    splitButton.setAttribute('aria-pressed', String(mode === 'split'));
    splitButton.disabled = narrow.matches;
    splitButton.title = narrow.matches ? 'Side by side needs a wider window' : '';
  };
  const setMode = (mode: DiffMode) => {
    chosenMode = mode;
    showModes();
    panel?.setMode(effectiveMode());
  };
  const onNarrowChange = () => {
    showModes();
    panel?.setMode(effectiveMode());
  };
  narrow.addEventListener('change', onNarrowChange);
  showModes();

  async function loadTree(): Promise<void> {
    const request = ++treeRequest;
    status.textContent = 'Loading…';
    refreshButton.disabled = true;
    try {
      const answer = await source.tree();
      if (disposed || request !== treeRequest) return;
      const started = performance.now();
      const model = buildTree(answer);
      tree = treeView(model, { expanded, selected, onSelect: (path) => select(path) });
      const parts = [tree.element];
      if (answer.truncated) {
        const shown = answer.entries.length.toLocaleString('en');
        const note = el('p', 'fv-truncated', `The workspace has more entries than are listed here: ${shown} shown (changed files first), the rest left out.`);
        note.setAttribute('role', 'note');
        parts.unshift(note);
      }
      side.replaceChildren(...parts);
      baseName = answer.base;
      baseLine.textContent = BASE_LINE[answer.base];
      status.textContent = '';
      root.dataset.treeRenderMs = (performance.now() - started).toFixed(1);
      if (selected !== null) void loadDiff(selected);
    } catch (error) {
      if (disposed || request !== treeRequest) return;
      status.textContent = '';
      side.replaceChildren(el('p', 'fv-error', `Could not list the files: ${errorText(error)}. Press Refresh to try again.`));
    } finally {
      if (request === treeRequest) refreshButton.disabled = false;
    }
  }

  async function loadDiff(path: string): Promise<void> {
    const request = ++diffRequest;
    pane.replaceChildren(el('p', 'fv-placeholder', 'Loading…'));
    try {
      const diff = await source.diff(path);
      if (disposed || request !== diffRequest) return;
      const started = performance.now();
      panel = filePanel(diff, effectiveMode(), baseName);
      pane.replaceChildren(panel.element);
      root.dataset.diffRenderMs = (performance.now() - started).toFixed(1);
    } catch (error) {
      if (disposed || request !== diffRequest) return;
      panel = null;
      const box = el('div', 'fv-error');
      box.appendChild(el('p', undefined, `Could not load this file: ${errorText(error)}`));
      box.appendChild(button('Try again', 'fv-button', () => void loadDiff(path)));
      pane.replaceChildren(box);
    }
  }

  function select(path: string | null): void {
    selected = path;
    tree?.select(path);
    root.classList.toggle('fv-has-file', path !== null);
    if (path === null) {
      diffRequest++;
      panel = null;
      pane.replaceChildren(el('p', 'fv-placeholder', 'Select a file to see its changes.'));
      return;
    }
    void loadDiff(path);
  }

  void loadTree();
  return {
    dispose() {
      disposed = true;
      narrow.removeEventListener('change', onNarrowChange);
      root.remove();
    },
  };
}
