/**
 * Which paths sync-back may touch on the laptop, decided here before anything is written
 * (SECURITY.md 11, 46, 47). A session machine is treated as hostile, so a path it names must
 * pass three rules of the laptop's, not the runtime's:
 *
 * - Never git's: no `.git` segment — in any case, and in the spellings a laptop's file system
 *   folds into `.git` (NTFS: trailing dots and spaces, the `git~1` short name; HFS+: ignorable
 *   code points such as U+200C) — so no gitfile (`gitdir: …`) and nothing inside a repository.
 * - Never something git would discover as a repository. Git takes a directory for a git dir when
 *   it has a valid `HEAD`, and `objects` and `refs` (only reachable: a file with its exec bit
 *   does) or a `commondir` naming where those are (setup.c, is_git_directory); it asks that of
 *   every directory it walks up through (a bare repository), and then runs what its `config`
 *   says (core.fsmonitor, hooks). So a write whose path passes through one of those names
 *   (`d/HEAD`, `d/objects/…`, `d/refs/…`, `d/commondir`) is refused when it would complete that
 *   shape in `d` with what is there now, and any write into a directory that already has it is
 *   refused — its `config`, `packed-refs`, `gitdir`, hooks. Whichever order the pieces come in,
 *   the last one is refused.
 * - Never an ignored path: the upload's rules (session-runtime/wire/ignore-rules.ts — the
 *   built-in ones, every `.gitignore` and `.cattyignore` in the directory, the `.gitignore`
 *   files above it in its repository) as the laptop's files say at the time of the write: a
 *   rule file is read again when its inode, size or mtime changed, so a `.gitignore` the session
 *   wrote counts from the moment it is here — as git sees it: what a `.gitignore` of the
 *   session's stops ignoring shows in `git status`. `.cattyignore` is never written or deleted:
 *   its `!` rules can bring back what git ignores, out of `git status`'s sight, so only the user
 *   changes it. Beneath the rules a floor no rule file lowers: dependency
 *   and cache folders (`node_modules`, `.venv`, `venv`, `__pycache__`, `*.pyc`) are never
 *   written, even when a negation re-includes them for the upload — they run code without
 *   review (a `.pth` file in site-packages, a package's index.js).
 */
import fs from 'node:fs';
import path from 'node:path';
import { DEPENDENCY_DIRS, IGNORE_FILES, IgnoreRules, type OuterIgnoreRules } from '../../session-runtime/wire/ignore-rules.js';
import { Refusal } from './local-fs.js';

/** catty's own rule file: it can re-include what git ignores, so the session never changes it. */
const CATTY_RULE_FILE = '.cattyignore';

/** Entries whose presence makes a directory a git dir to git's discovery (lower case). */
const GIT_DIR_MARKERS = ['head', 'objects', 'refs', 'commondir'] as const;
type Marker = (typeof GIT_DIR_MARKERS)[number];

/** Code points HFS+ leaves out of names when comparing them (git's is_hfs_dotgit list). */
const HFS_IGNORABLE = /[\u200c-\u200f\u202a-\u202e\u206a-\u206f\ufeff]/g;

/** A name as a case-insensitive, HFS+ or NTFS file system may take it. */
function folded(segment: string): string {
  return segment.replace(HFS_IGNORABLE, '').replace(/[. ]+$/, '').toLowerCase();
}

/** Whether a laptop's file system may take `segment` for `.git`. */
export function isDotGit(segment: string): boolean {
  const name = folded(segment);
  return name === '.git' || name === 'git~1';
}

function markerOf(segment: string): Marker | null {
  const name = folded(segment);
  return (GIT_DIR_MARKERS as readonly string[]).includes(name) ? (name as Marker) : null;
}

/** Whether a path names a git-dir marker anywhere (such writes are applied one at a time). */
export function touchesGitShape(rel: string): boolean {
  return rel.split('/').some((segment) => markerOf(segment) !== null);
}

/** Whether the path is a `.gitignore` or `.cattyignore` (such writes are applied one at a time). */
export function isRuleFile(rel: string): boolean {
  return (IGNORE_FILES as readonly string[]).includes(rel.split('/').at(-1) ?? '');
}

export class Admission {
  readonly #root: string;
  readonly #rules: IgnoreRules;
  /** Each directory's rule files as last read (inode, size, mtime), to see them change. */
  readonly #seen = new Map<string, string>();

  constructor(root: string, outer: readonly OuterIgnoreRules[] = []) {
    this.#root = root;
    this.#rules = new IgnoreRules(root, { ignoreGit: true, outer });
  }

  /** Throws a Refusal when sync-back may not write or delete `rel` (already a valid relative path). */
  check(rel: string): void {
    const segments = rel.split('/');
    if (segments.some(isDotGit)) throw new Refusal('.git is never written by sync-back');
    if (isDependencyPath(segments)) throw new Refusal('a dependency or cache folder: never written by sync-back');
    if (folded(segments.at(-1) ?? '') === CATTY_RULE_FILE) throw new Refusal(`${CATTY_RULE_FILE} decides what sync-back writes: never written by sync-back`);
    this.#checkGitShape(segments);
    for (let depth = 0; depth < segments.length; depth++) this.#refresh(segments.slice(0, depth).join('/'));
    if (this.#rules.ignoresWithAncestors(rel, false)) throw new Refusal('ignored (.gitignore, .cattyignore or catty\'s defaults): never written by sync-back');
  }

  /**
   * For each directory `d` on the path: refused when `d` already has a git dir's shape, or when
   * the path's next segment is a marker that would give it one. Without a HEAD (there, or as the
   * next segment) there is no shape: one lstat per directory.
   */
  #checkGitShape(segments: string[]): void {
    for (let depth = 0; depth < segments.length; depth++) {
      const dirRel = segments.slice(0, depth).join('/');
      const next = markerOf(segments[depth] as string);
      if (next !== 'head' && !exists(path.join(this.#root, dirRel, 'HEAD'))) continue;
      const present = this.#markersIn(dirRel);
      if (isGitDirShape(present)) throw new Refusal(`${dirRel || 'the directory'} looks like a git repository (HEAD, objects, refs): never written into by sync-back`);
      if (next) {
        present.add(next);
        if (isGitDirShape(present)) throw new Refusal(`would make ${dirRel || 'the directory'} look like a git repository (HEAD, objects, refs): refused`);
      }
    }
  }

  /** The markers present in a directory (any kind of entry; a missing directory has none). */
  #markersIn(dirRel: string): Set<Marker> {
    const dir = path.join(this.#root, dirRel);
    return new Set(GIT_DIR_MARKERS.filter((marker) => exists(path.join(dir, marker === 'head' ? 'HEAD' : marker))));
  }

  /** Drops the cached rules of `dirRel` when one of its rule files changed since they were read. */
  #refresh(dirRel: string): void {
    const stamp = IGNORE_FILES.map((name) => {
      try {
        const st = fs.lstatSync(path.join(this.#root, dirRel, name), { bigint: true });
        return `${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
      } catch {
        return '-';
      }
    }).join('|');
    if (this.#seen.get(dirRel) === stamp) return;
    this.#seen.set(dirRel, stamp);
    this.#rules.invalidate(dirRel);
  }
}

/** Whether anything (of any kind, a link too) is at `file`. */
function exists(file: string): boolean {
  try {
    fs.lstatSync(file);
    return true;
  } catch {
    return false;
  }
}

/** In a dependency or cache folder, or a `.pyc` (in any case: a laptop's disk may fold it). */
function isDependencyPath(segments: string[]): boolean {
  const names = segments.map(folded);
  return names.some((name) => (DEPENDENCY_DIRS as readonly string[]).includes(name)) || (names.at(-1) ?? '').endsWith('.pyc');
}

function isGitDirShape(present: Set<Marker>): boolean {
  return present.has('head') && ((present.has('objects') && present.has('refs')) || present.has('commondir'));
}
