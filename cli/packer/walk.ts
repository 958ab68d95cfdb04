/**
 * Walks the workspace the way the upload sees it: IgnoreRules (defaults, every nested
 * .gitignore/.cattyignore with negations; `.git` unless --no-git). Symlinks are never
 * followed — they are skipped and counted, as are sockets, FIFOs and devices.
 */
import fs from 'node:fs/promises';
import { lstatSync } from 'node:fs';
import path from 'node:path';
import { IgnoreRules } from '../../session-runtime/wire/ignore-rules.js';

export interface WalkEntry {
  /** Relative POSIX path. */
  rel: string;
  abs: string;
  size: number;
  executable: boolean;
}

export interface WalkResult {
  files: WalkEntry[];
  totalBytes: number;
  skippedSymlinks: string[];
  skippedSpecial: string[];
}

export async function walkWorkspace(root: string, options: { ignoreGit: boolean }): Promise<WalkResult> {
  const rules = new IgnoreRules(root, { ignoreGit: options.ignoreGit });
  const result: WalkResult = { files: [], totalBytes: 0, skippedSymlinks: [], skippedSpecial: [] };
  const pending: string[] = [''];
  while (pending.length > 0) {
    const dirRel = pending.pop() as string;
    const dirAbs = dirRel === '' ? root : path.join(root, dirRel);
    const entries = await fs.readdir(dirAbs, { withFileTypes: true });
    const stats = await Promise.all(
      entries.map(async (entry) => {
        const rel = dirRel === '' ? entry.name : `${dirRel}/${entry.name}`;
        if (entry.isSymbolicLink()) return { kind: 'symlink' as const, rel };
        if (entry.isDirectory()) return { kind: 'dir' as const, rel };
        if (!entry.isFile()) return { kind: 'special' as const, rel };
        if (rules.ignores(rel, false)) return null;
        const abs = path.join(root, rel);
        // Sync lstat: cheaper than a thread-pool round trip for thousands of cached inodes.
        const st = lstatSync(abs);
        if (!st.isFile()) return { kind: 'special' as const, rel };
        return { kind: 'file' as const, rel, abs, size: st.size, executable: (st.mode & 0o100) !== 0 };
      }),
    );
    for (const item of stats) {
      if (item === null) continue;
      switch (item.kind) {
        case 'symlink':
          if (!rules.ignores(item.rel, false)) result.skippedSymlinks.push(item.rel);
          break;
        case 'special':
          if (!rules.ignores(item.rel, false)) result.skippedSpecial.push(item.rel);
          break;
        case 'dir':
          if (!rules.ignores(item.rel, true)) pending.push(item.rel);
          break;
        case 'file':
          result.files.push({ rel: item.rel, abs: item.abs, size: item.size, executable: item.executable });
          result.totalBytes += item.size;
          break;
        default: {
          const never: never = item;
          throw new Error(`unexpected entry ${String(never)}`);
        }
      }
    }
  }
  result.files.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
  return result;
}

/** The `count` largest files, for the size-cap error. */
export function largestFiles(files: WalkEntry[], count: number): WalkEntry[] {
  return [...files].sort((a, b) => b.size - a.size).slice(0, count);
}
