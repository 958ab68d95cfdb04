/**
 * Which workspace paths catty leaves alone: the one place the CLI's packer, the runtime's
 * watcher and its snapshots take their ignore rules from. A leaf module.
 *
 * - Upload and sync-back honour every `.gitignore` (nested ones too, with negations), a
 *   `.cattyignore` at any level, and DEFAULT_IGNORES; the upload also the `.gitignore` files
 *   above the project inside its repository (`outer`, found by the CLI's packer).
 * - Snapshots keep everything but dependency and cache folders (SNAPSHOT_EXCLUDES): they are
 *   the recovery copy of the workspace, `.git` included.
 */
import fs from 'node:fs';
import path from 'node:path';
import ignore, { type Ignore } from 'ignore';

/** Dependency and cache folders: never uploaded, synced back or snapshotted. */
export const DEPENDENCY_DIRS = ['node_modules', '.venv', 'venv', '__pycache__'] as const;

/** Default ignore rules (gitignore syntax) applied before any `.gitignore`; name patterns only
 * (no `/` but a trailing one): IgnoreRules tests them on a path's last segment. */
export const DEFAULT_IGNORES = [
  ...DEPENDENCY_DIRS.map((dir) => `${dir}/`),
  '*.pyc',
  '.DS_Store',
  '.env',
  '.env.*',
  '!.env.example',
  '!.env.sample',
] as const;

/** Rule files read in every directory, in this order. */
export const IGNORE_FILES = ['.gitignore', '.cattyignore'] as const;

/** Whether a snapshot leaves this relative POSIX path out. */
export function snapshotExcludes(rel: string): boolean {
  const segments = rel.split('/');
  if (segments.some((s) => (DEPENDENCY_DIRS as readonly string[]).includes(s))) return true;
  return segments[segments.length - 1]?.endsWith('.pyc') ?? false;
}

export interface IgnoreOptions {
  /** Whether `.git/` itself is ignored (the packer with --no-git, the watcher always). */
  ignoreGit: boolean;
  /** Rules of `.gitignore` files above the root (the packer, inside a repository), shallowest first. */
  outer?: readonly OuterIgnoreRules[];
}

/** The rules of one `.gitignore` above the root, which apply to paths relative to its directory. */
export interface OuterIgnoreRules {
  rules: Ignore;
  /** The root's path from that directory (POSIX, not empty): `app` for `../.gitignore`. */
  prefix: string;
}

/**
 * Gitignore semantics over a directory tree. Rule files are read lazily, once per directory,
 * and cached; call `invalidate(dir)` when one of them changes.
 */
export class IgnoreRules {
  readonly #root: string;
  readonly #options: IgnoreOptions;
  readonly #base: Ignore;
  readonly #perDir = new Map<string, Ignore | null>();

  constructor(root: string, options: IgnoreOptions) {
    this.#root = root;
    this.#options = options;
    this.#base = ignore().add([...DEFAULT_IGNORES]);
  }

  /** Forgets the cached rules of a directory (relative POSIX path, '' for the root). */
  invalidate(dirRel: string): void {
    this.#perDir.delete(dirRel);
  }

  /**
   * Whether `rel` (relative POSIX path) is ignored. Callers that walk a tree never descend into
   * an ignored directory; callers that get single paths (the watcher) should ask about each
   * ancestor too: use `ignoresWithAncestors`.
   */
  ignores(rel: string, isDir: boolean): boolean {
    const segments = rel.split('/');
    if (this.#options.ignoreGit && segments[0] === '.git') return true;
    const candidate = isDir ? `${rel}/` : rel;
    // The defaults are name patterns: tested on the last segment alone, so that a directory
    // they match but a rule file re-includes (`!node_modules/` in .cattyignore) brings back its
    // files too — tested on the whole path, the default would still catch them via the parent.
    const name = segments[segments.length - 1] ?? '';
    let ignored = this.#base.ignores(isDir ? `${name}/` : name);
    // Deeper rule files override shallower ones, as in git: the ones above the root first.
    for (const outer of this.#options.outer ?? []) {
      const verdict = outer.rules.test(`${outer.prefix}/${candidate}`);
      if (verdict.ignored) ignored = true;
      else if (verdict.unignored) ignored = false;
    }
    for (let depth = 0; depth < segments.length; depth++) {
      const dirRel = segments.slice(0, depth).join('/');
      const rules = this.#rulesFor(dirRel);
      if (!rules) continue;
      const sub = segments.slice(depth).join('/') + (isDir ? '/' : '');
      const verdict = rules.test(sub);
      if (verdict.ignored) ignored = true;
      else if (verdict.unignored) ignored = false;
    }
    return ignored;
  }

  /** `ignores` for the path and every directory above it. */
  ignoresWithAncestors(rel: string, isDir: boolean): boolean {
    const segments = rel.split('/');
    for (let i = 1; i < segments.length; i++) {
      if (this.ignores(segments.slice(0, i).join('/'), true)) return true;
    }
    return this.ignores(rel, isDir);
  }

  #rulesFor(dirRel: string): Ignore | null {
    const cached = this.#perDir.get(dirRel);
    if (cached !== undefined) return cached;
    let rules: Ignore | null = null;
    for (const name of IGNORE_FILES) {
      const text = readRuleFile(path.join(this.#root, dirRel, name));
      if (text === null) continue;
      rules ??= ignore();
      rules.add(text);
    }
    this.#perDir.set(dirRel, rules);
    return rules;
  }
}

function readRuleFile(file: string): string | null {
  try {
    const stat = fs.lstatSync(file);
    if (!stat.isFile() || stat.size > 1024 * 1024) return null;
    return fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}
