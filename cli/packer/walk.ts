/**
 * Walks the workspace the way the upload sees it: IgnoreRules (defaults, every nested
 * .gitignore/.cattyignore with negations, the .gitignore files above it in its repository;
 * `.git` unless --no-git). Symlinks are never followed — they are skipped and counted, as are
 * sockets, FIFOs and devices, and entries that vanish or cannot be read while the walk runs
 * (a home directory or /proc changes under it).
 */
import fs from 'node:fs/promises';
import { lstatSync, realpathSync, type Dirent, type Stats } from 'node:fs';
import path from 'node:path';
import { IgnoreRules, type OuterIgnoreRules } from '../../session-runtime/wire/ignore-rules.js';

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
  /** Entries that vanished or could not be read during the walk. */
  skippedUnreadable: string[];
}

export interface WalkOptions {
  ignoreGit: boolean;
  outer?: readonly OuterIgnoreRules[];
  /** Directories (relative POSIX paths) never entered, whatever the rules say. */
  excludeDirs?: readonly string[];
  /** Called after each directory with the files found so far. */
  onProgress?: (files: number) => void;
}

/** Errors that mean "this entry is gone or not ours to read": skipped, not fatal. */
const SKIPPABLE = new Set(['ENOENT', 'ENOTDIR', 'EACCES', 'EPERM']);

/** The real path of `dir` (symlinks resolved, as git and the kernel see it), or its absolute path. */
export function realpathOr(dir: string): string {
  try {
    return realpathSync(dir);
  } catch {
    return path.resolve(dir);
  }
}

export function isSkippableFsError(error: unknown): boolean {
  return error instanceof Error && SKIPPABLE.has((error as NodeJS.ErrnoException).code ?? '');
}

export async function walkWorkspace(root: string, options: WalkOptions): Promise<WalkResult> {
  const rules = new IgnoreRules(root, { ignoreGit: options.ignoreGit, ...(options.outer ? { outer: options.outer } : {}) });
  const result: WalkResult = { files: [], totalBytes: 0, skippedSymlinks: [], skippedSpecial: [], skippedUnreadable: [] };
  const excluded = new Set(options.excludeDirs ?? []);
  const pending: string[] = [''];
  while (pending.length > 0) {
    const dirRel = pending.pop() as string;
    const dirAbs = dirRel === '' ? root : path.join(root, dirRel);
    let entries: Dirent[];
    try {
      entries = await fs.readdir(dirAbs, { withFileTypes: true });
    } catch (error) {
      // The root itself must be readable; below it, a directory may vanish or be closed to us.
      if (dirRel === '' || !isSkippableFsError(error)) throw error;
      result.skippedUnreadable.push(dirRel);
      continue;
    }
    const stats = entries.map((entry) => {
      const rel = dirRel === '' ? entry.name : `${dirRel}/${entry.name}`;
      if (entry.isSymbolicLink()) return { kind: 'symlink' as const, rel };
      if (entry.isDirectory()) return { kind: 'dir' as const, rel };
      if (!entry.isFile()) return { kind: 'special' as const, rel };
      if (rules.ignores(rel, false)) return null;
      const abs = path.join(root, rel);
      // Sync lstat: cheaper than a thread-pool round trip for thousands of cached inodes.
      let st: Stats;
      try {
        st = lstatSync(abs);
      } catch (error) {
        if (!isSkippableFsError(error)) throw error;
        return { kind: 'unreadable' as const, rel };
      }
      if (!st.isFile()) return { kind: 'special' as const, rel };
      return { kind: 'file' as const, rel, abs, size: st.size, executable: (st.mode & 0o100) !== 0 };
    });
    for (const item of stats) {
      if (item === null) continue;
      switch (item.kind) {
        case 'unreadable':
          result.skippedUnreadable.push(item.rel);
          break;
        case 'symlink':
          if (!rules.ignores(item.rel, false)) result.skippedSymlinks.push(item.rel);
          break;
        case 'special':
          if (!rules.ignores(item.rel, false)) result.skippedSpecial.push(item.rel);
          break;
        case 'dir':
          if (!excluded.has(item.rel) && !rules.ignores(item.rel, true)) pending.push(item.rel);
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
    options.onProgress?.(result.files.length);
  }
  result.files.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
  return result;
}

/** The `count` largest files, for the size-cap error. */
export function largestFiles(files: WalkEntry[], count: number): WalkEntry[] {
  return [...files].sort((a, b) => b.size - a.size).slice(0, count);
}
