/**
 * GET /files: the workspace's tree, each file marked added or modified against the base
 * (base.ts), and the base's files that are gone listed as deleted.
 *
 * The walk never follows a link: each directory is opened relative to its parent's descriptor
 * with O_NOFOLLOW (no-follow.ts), so a directory swapped for `-> /` mid-walk is a link that is
 * listed, not a place that is read. `.git` directories are not listed (nor walked). Only files,
 * directories and links are listed (a FIFO, socket or device is not).
 *
 * Bounded: the walk stops after MAX_WALK_ENTRIES names (then `truncated`, and no file is called
 * deleted: the walk did not see everything); it yields every SLICE_MS; the answer holds at most
 * MAX_TREE_ENTRIES entries, the changed ones first. Concurrent requests share one walk.
 */
import fs from 'node:fs';
import { MAX_PATH_DEPTH } from '../wire/safe-path.js';
import { MAX_TREE_ENTRIES, type FileChange, type FileTree, type FileTreeEntry } from '../wire/protocol.js';
import type { BaseStore } from './base.js';
import { CTIME_SLACK_MS, HashCache, Slicer, differsFromBase } from './current.js';
import { inDir, openDirIn, openRoot } from './no-follow.js';

/** Names the walk looks at before it stops (`truncated`). */
export const MAX_WALK_ENTRIES = 200_000;

const { O_RDONLY, O_NOFOLLOW, O_NONBLOCK, O_NOCTTY } = fs.constants;

/** Byte order of two strings' UTF-8 (code point order), without encoding them. */
export function compareUtf8(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    // UTF-16 order differs from code point order only between surrogates and U+E000–U+FFFF.
    if (x !== y) return fixup(x) - fixup(y);
  }
  return a.length - b.length;
}

function fixup(unit: number): number {
  if (unit >= 0xe000) return unit - 0x800;
  if (unit >= 0xd800) return unit + 0x2000;
  return unit;
}

export interface TreeLimits {
  maxEntries: number;
  maxWalkEntries: number;
}

export class WorkspaceTree {
  #walking: Promise<FileTree> | null = null;

  constructor(
    private readonly workspace: string,
    private readonly base: BaseStore,
    readonly hashes: HashCache = new HashCache(),
    private readonly limits: TreeLimits = { maxEntries: MAX_TREE_ENTRIES, maxWalkEntries: MAX_WALK_ENTRIES },
  ) {}

  /** The tree now (a request while a walk runs gets that walk's answer). */
  list(): Promise<FileTree> {
    this.#walking ??= this.#list().finally(() => (this.#walking = null));
    return this.#walking;
  }

  async #list(): Promise<FileTree> {
    const slicer = new Slicer();
    const entries: FileTreeEntry[] = [];
    /** Files and links seen (what is not, of the base's, is deleted). */
    const present = new Set<string>();
    /** Directories not walked (deeper than MAX_PATH_DEPTH): nothing under them is called deleted. */
    const unwalked: string[] = [];
    const baseFiles = this.base.files;
    const baseLinks = this.base.links;
    const hasBase = this.base.kind !== 'none';
    const baseAtMs = this.base.recordedAtMs;
    const baseOldNs = BigInt(baseAtMs - CTIME_SLACK_MS) * 1_000_000n;
    let names = 0;
    let cut = false;

    const fileChange = async (rel: string, dirFd: number, name: string, st: fs.BigIntStats): Promise<FileChange | undefined> => {
      const recorded = baseFiles.get(rel);
      if (!hasBase || !recorded) return baseLinks.has(rel) ? 'modified' : 'added';
      // Told by the listing's status when it can be: most files are not opened.
      if (st.size !== BigInt(recorded.size)) return 'modified';
      if (st.ctimeNs < baseOldNs) return undefined;
      const remembered = this.hashes.known(rel, st);
      if (remembered !== undefined) return remembered === recorded.sha256 ? undefined : 'modified';
      let fd: number;
      try {
        fd = fs.openSync(inDir(dirFd, name), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
      } catch {
        return 'modified'; // gone or replaced since the listing: certainly not the base's file
      }
      try {
        const now = fs.fstatSync(fd, { bigint: true });
        if (!now.isFile()) return 'modified';
        return (await differsFromBase(rel, fd, now, recorded, baseAtMs, this.hashes, slicer)) ? 'modified' : undefined;
      } finally {
        fs.closeSync(fd);
      }
    };

    const linkChange = (rel: string, dirFd: number, name: string): FileChange | undefined => {
      if (!hasBase) return 'added';
      const target = baseLinks.get(rel);
      if (target === undefined) return baseFiles.has(rel) ? 'modified' : 'added';
      try {
        return fs.readlinkSync(inDir(dirFd, name)) === target ? undefined : 'modified';
      } catch {
        return 'modified';
      }
    };

    const walk = async (dirFd: number, prefix: string): Promise<void> => {
      let dir: fs.Dir;
      try {
        dir = fs.opendirSync(`/proc/self/fd/${dirFd}`, { bufferSize: 256 });
      } catch {
        return; // removed while walked
      }
      const subdirs: string[] = [];
      try {
        for (let dirent = dir.readSync(); dirent; dirent = dir.readSync()) {
          if (++names > this.limits.maxWalkEntries) {
            cut = true;
            return;
          }
          const rel = prefix + dirent.name;
          if (dirent.isDirectory()) {
            if (dirent.name.toLowerCase() === '.git') continue;
            entries.push({ path: rel, kind: 'dir', size: 0 });
            subdirs.push(dirent.name);
          } else if (dirent.isSymbolicLink()) {
            present.add(rel);
            const change = linkChange(rel, dirFd, dirent.name);
            entries.push(change ? { path: rel, kind: 'symlink', size: 0, change } : { path: rel, kind: 'symlink', size: 0 });
          } else if (dirent.isFile()) {
            let st: fs.BigIntStats;
            try {
              st = fs.lstatSync(inDir(dirFd, dirent.name), { bigint: true });
            } catch {
              continue;
            }
            if (!st.isFile()) continue;
            present.add(rel);
            const change = await fileChange(rel, dirFd, dirent.name, st);
            const size = Number(st.size);
            entries.push(change ? { path: rel, kind: 'file', size, change } : { path: rel, kind: 'file', size });
          }
          await slicer.tick();
        }
      } finally {
        dir.closeSync();
      }
      const depth = prefix.split('/').length;
      for (const name of subdirs) {
        if (cut) return;
        if (depth >= MAX_PATH_DEPTH) {
          unwalked.push(`${prefix}${name}/`);
          continue;
        }
        let childFd: number;
        try {
          childFd = openDirIn(dirFd, name);
        } catch {
          continue; // gone, or swapped for a link since it was listed
        }
        try {
          await walk(childFd, `${prefix}${name}/`);
        } finally {
          fs.closeSync(childFd);
        }
      }
    };

    let rootFd: number;
    try {
      rootFd = openRoot(this.workspace);
    } catch {
      return { entries: [], truncated: false, base: this.base.kind };
    }
    try {
      await walk(rootFd, '');
    } finally {
      fs.closeSync(rootFd);
    }
    if (!cut && hasBase) {
      const gone = (rel: string): boolean => !present.has(rel) && !unwalked.some((dir) => rel.startsWith(dir));
      for (const [rel, file] of baseFiles) {
        if (gone(rel)) entries.push({ path: rel, kind: 'file', size: file.size, change: 'deleted' });
        await slicer.tick();
      }
      for (const rel of baseLinks.keys()) if (gone(rel)) entries.push({ path: rel, kind: 'symlink', size: 0, change: 'deleted' });
    }
    return { ...capped(entries, this.limits.maxEntries), truncated: cut || entries.length > this.limits.maxEntries, base: this.base.kind };
  }
}

/** At most `max` entries, the changed ones first, in byte order of their paths. */
function capped(entries: FileTreeEntry[], max: number): { entries: FileTreeEntry[] } {
  if (entries.length > max) {
    const changed = entries.filter((e) => e.change !== undefined);
    const rest = entries.filter((e) => e.change === undefined).sort((a, b) => compareUtf8(a.path, b.path));
    entries = changed.length >= max ? changed.sort((a, b) => compareUtf8(a.path, b.path)).slice(0, max) : [...changed, ...rest.slice(0, max - changed.length)];
  }
  return { entries: entries.sort((a, b) => compareUtf8(a.path, b.path) || (a.kind === 'dir' ? 1 : 0) - (b.kind === 'dir' ? 1 : 0)) };
}
