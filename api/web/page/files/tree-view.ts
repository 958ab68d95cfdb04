/**
 * The left side of the files view: the changed files first (badge, size), then the whole tree,
 * one directory at a time. Nothing below a closed directory exists in the DOM, and a list longer
 * than LIST_CHUNK shows its first LIST_CHUNK items behind a "show more" button, so a 20,000-entry
 * workspace (flat or deep) renders what is on screen, not all of it.
 */
import { appendText, button, el, formatSize, visibleText } from './dom.js';
import type { Node, TreeModel } from './tree-model.js';

export const LIST_CHUNK = 500;

export interface TreeViewOptions {
  /** Directories open at first render (kept across refreshes). */
  expanded: Set<string>;
  selected: string | null;
  onSelect(path: string): void;
}

export interface TreeView {
  element: HTMLElement;
  /** Marks `path`'s rows as selected (in the changed list and the tree). */
  select(path: string | null): void;
}

export function treeView(model: TreeModel, options: TreeViewOptions): TreeView {
  const element = el('div', 'fv-lists');
  const rowsByPath = new Map<string, HTMLElement[]>();
  let selected = options.selected;

  const register = (path: string, row: HTMLElement) => {
    const list = rowsByPath.get(path);
    if (list) list.push(row);
    else rowsByPath.set(path, [row]);
    if (path === selected) row.classList.add('fv-selected');
  };

  const fileRow = (node: Node, showPath: boolean): HTMLElement => {
    const row = el('button', `fv-item fv-kind-${node.kind}`);
    row.type = 'button';
    row.title = visibleText(node.path);
    appendText(row, showPath ? node.path : node.name, 'fv-name');
    if (node.change) row.appendChild(el('span', `fv-badge fv-badge-${node.change}`, node.change));
    if (node.kind === 'symlink') row.appendChild(el('span', 'fv-meta', 'symlink'));
    else row.appendChild(el('span', 'fv-meta', formatSize(node.size)));
    row.addEventListener('click', () => options.onSelect(node.path));
    register(node.path, row);
    return row;
  };

  /** `nodes` as <li>s into `list`, LIST_CHUNK at a time. */
  const fillList = (list: HTMLElement, nodes: Node[], make: (node: Node) => HTMLElement, start = 0) => {
    const end = Math.min(nodes.length, start + LIST_CHUNK);
    const fragment = document.createDocumentFragment();
    for (let i = start; i < end; i++) fragment.appendChild(el('li')).appendChild(make(nodes[i]!));
    if (end < nodes.length) {
      const more = fragment.appendChild(el('li', 'fv-more'));
      more.appendChild(button(`Show ${Math.min(LIST_CHUNK, nodes.length - end)} more (${(nodes.length - end).toLocaleString('en')} left)`, 'fv-link', () => {
        more.remove();
        fillList(list, nodes, make, end);
      }));
    }
    list.appendChild(fragment);
  };

  const treeNode = (node: Node): HTMLElement => {
    if (node.kind !== 'dir') return fileRow(node, false);
    const holder = el('div', 'fv-dir');
    const toggle = holder.appendChild(el('button', 'fv-item fv-kind-dir'));
    toggle.type = 'button';
    toggle.title = visibleText(node.path);
    toggle.appendChild(el('span', 'fv-caret'));
    appendText(toggle, node.name, 'fv-name');
    const below = model.changedBelow.get(node.path);
    if (below) toggle.appendChild(el('span', 'fv-meta fv-changed-below', `${below} changed`));
    let list: HTMLElement | null = null;
    const setOpen = (open: boolean) => {
      toggle.setAttribute('aria-expanded', String(open));
      if (open && !list) {
        list = holder.appendChild(el('ul', 'fv-tree'));
        fillList(list, model.children.get(node.path) ?? [], treeNode);
      }
      if (list) list.hidden = !open;
      if (open) options.expanded.add(node.path);
      else options.expanded.delete(node.path);
    };
    toggle.addEventListener('click', () => setOpen(toggle.getAttribute('aria-expanded') !== 'true'));
    setOpen(options.expanded.has(node.path));
    return holder;
  };

  const changedBox = element.appendChild(el('section', 'fv-changed'));
  changedBox.appendChild(el('h2', 'fv-list-title', `Changed (${model.changed.length})`));
  if (model.changed.length === 0) changedBox.appendChild(el('p', 'fv-empty', 'No file changed yet.'));
  else fillList(changedBox.appendChild(el('ul', 'fv-changed-list')), model.changed, (node) => fileRow(node, true));

  const treeBox = element.appendChild(el('section', 'fv-all'));
  treeBox.appendChild(el('h2', 'fv-list-title', `All files (${model.fileCount})`));
  const root = model.children.get('') ?? [];
  if (root.length === 0) treeBox.appendChild(el('p', 'fv-empty', 'The workspace is empty.'));
  else fillList(treeBox.appendChild(el('ul', 'fv-tree fv-root')), root, treeNode);

  return {
    element,
    select(path) {
      for (const row of rowsByPath.get(selected ?? '') ?? []) row.classList.remove('fv-selected');
      selected = path;
      for (const row of rowsByPath.get(path ?? '') ?? []) row.classList.add('fv-selected');
    },
  };
}
