/**
 * The workspace tree as the view walks it: each directory's children (directories first, then by
 * name), the changed files in one list, and how many changed files each directory holds. Built
 * once per answer of `tree()` in one pass; directories an entry implies but the list lacks (a
 * truncated list) are made up, so every entry has a parent to open.
 */
import type { FileChange, FileTree, FileTreeEntry } from '../../../../session-runtime/wire/protocol.js';

export interface Node {
  /** Last path segment (as written: hostile text). */
  name: string;
  path: string;
  kind: FileTreeEntry['kind'];
  size: number;
  change?: FileChange;
}

export interface TreeModel {
  /** Children by directory path ('' is the workspace root), directories first, then by name. */
  children: Map<string, Node[]>;
  changed: Node[];
  /** Changed files below each directory path. */
  changedBelow: Map<string, number>;
  fileCount: number;
}

function parentOf(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash === -1 ? '' : path.slice(0, slash);
}

function byName(a: Node, b: Node): number {
  if ((a.kind === 'dir') !== (b.kind === 'dir')) return a.kind === 'dir' ? -1 : 1;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

export function buildTree(tree: FileTree): TreeModel {
  const children = new Map<string, Node[]>([['', []]]);
  const changedBelow = new Map<string, number>();
  const changed: Node[] = [];
  let fileCount = 0;
  const ensureDir = (path: string) => {
    if (children.has(path)) return;
    children.set(path, []);
    const parent = parentOf(path);
    ensureDir(parent);
    children.get(parent)!.push({ name: path.slice(path.lastIndexOf('/') + 1), path, kind: 'dir', size: 0 });
  };
  for (const entry of tree.entries) {
    const node: Node = { name: entry.path.slice(entry.path.lastIndexOf('/') + 1), path: entry.path, kind: entry.kind, size: entry.size };
    if (entry.change) node.change = entry.change;
    if (entry.kind === 'dir') {
      if (children.has(entry.path)) continue;
      children.set(entry.path, []);
    } else {
      fileCount++;
    }
    const parent = parentOf(entry.path);
    ensureDir(parent);
    children.get(parent)!.push(node);
    if (entry.change && entry.kind !== 'dir') {
      changed.push(node);
      for (let dir = parent; ; dir = parentOf(dir)) {
        changedBelow.set(dir, (changedBelow.get(dir) ?? 0) + 1);
        if (dir === '') break;
      }
    }
  }
  for (const list of children.values()) list.sort(byName);
  changed.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { children, changed, changedBelow, fileCount };
}
