/**
 * Links in a snapshot (SECURITY.md 3 as amended for download): one odd link must not cost the
 * user the whole workspace, and no link may ever let a write, or a later `cd`, leave the
 * directory. So links are never extracted by tar; they are collected, judged once every file is
 * on disk, and then created with symlink(2) — which never follows anything.
 *
 * A symlink is created only when its target is relative and, resolved from the link's own
 * directory with every other link of the snapshot followed (a chain `d/up -> ..`,
 * `x -> d/up/..` escapes even though `d/up/..` reads as `d`), stays inside the directory and
 * never passes through a `.git` segment; the link itself is never named `.git` nor inside one.
 * Everything else — absolute or escaping targets, hardlinks, loops — is skipped and listed.
 *
 * Invariant the extractor keeps (so a link's parent is a real directory, never a link): no entry
 * of the snapshot sits under a link entry (extract.ts refuses the snapshot otherwise).
 */
import fs from 'node:fs';
import path from 'node:path';
import { collisionKey, isGitPath } from '../../session-runtime/wire/safe-path.js';

export interface LinkEntry {
  /** Relative POSIX path of the link (already validated by relativePathProblem). */
  rel: string;
  target: string;
  kind: 'symlink' | 'hardlink';
}

export interface SkippedLink extends LinkEntry {
  why: string;
}

/** Links followed while resolving one target before it counts as a loop (Linux's limit). */
const MAX_HOPS = 40;
const MAX_TARGET_BYTES = 4096;
const LOOP = 'too many levels of links';

/** Why `target` of the symlink at `rel` is not acceptable on its face, or null. */
function targetProblem(target: string): string | null {
  if (target.length === 0) return 'empty target';
  if (Buffer.byteLength(target) > MAX_TARGET_BYTES) return 'target too long';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(target)) return 'control character in target';
  if (target.startsWith('/')) return 'absolute target';
  if (target.includes('\\') || /^[a-zA-Z]:/.test(target)) return 'Windows-style target';
  return null;
}

const dirSegments = (rel: string) => rel.split('/').slice(0, -1);

/**
 * Resolves the symlinks of a snapshot against each other, with textual `..` everywhere else
 * (a missing component counts as a directory: whatever the user creates there later, the
 * answer cannot get less safe).
 */
class LinkResolver {
  readonly #byPath = new Map<string, LinkEntry>();
  readonly #byKey = new Map<string, LinkEntry>();

  /** `links`: the snapshot's symlinks (hardlinks are never created, so never followed). */
  constructor(links: LinkEntry[]) {
    for (const link of links) {
      this.#byPath.set(link.rel, link);
      this.#byKey.set(collisionKey(link.rel), link);
    }
  }

  /** Why the link escapes or reaches into `.git`, or null when its target stays inside. */
  problem(link: LinkEntry): string | null {
    const hops = { count: 0 };
    const outcome = this.#resolve(dirSegments(link.rel), link.target, hops);
    return typeof outcome === 'string' ? outcome : null;
  }

  #resolve(from: string[], target: string, hops: { count: number }): string[] | string {
    const face = targetProblem(target);
    if (face) return face;
    const segments = [...from];
    for (const part of target.split('/')) {
      if (part === '' || part === '.') continue;
      if (part === '..') {
        if (segments.length === 0) return 'target leaves the directory';
        segments.pop();
        continue;
      }
      if (part.toLowerCase() === '.git') return 'target points into .git';
      segments.push(part);
      const here = segments.join('/');
      const link = this.#byPath.get(here);
      if (!link) {
        // Another spelling of a link's name: on a case-insensitive disk it is that link, on
        // another it is not — the two readings disagree, so refuse rather than guess.
        if (this.#byKey.has(collisionKey(here))) return 'target names a link under another spelling';
        continue;
      }
      if (++hops.count > MAX_HOPS) return LOOP;
      const next = this.#resolve(dirSegments(link.rel), link.target, hops);
      // The innermost reason, once, with the first link it came through.
      if (typeof next === 'string') return next === LOOP || next.includes(', via ') ? next : `${next}, via ${link.rel}`;
      segments.splice(0, segments.length, ...next);
    }
    return segments;
  }
}

/** Splits the snapshot's links into those to create and those to skip (with the reason). */
export function judgeLinks(links: LinkEntry[]): { create: LinkEntry[]; skipped: SkippedLink[] } {
  const resolver = new LinkResolver(links.filter((l) => l.kind === 'symlink'));
  const create: LinkEntry[] = [];
  const skipped: SkippedLink[] = [];
  for (const link of links) {
    const why =
      link.kind === 'hardlink'
        ? 'hardlink'
        : isGitPath(link.rel)
          ? 'named .git or inside .git'
          : resolver.problem(link);
    if (why) skipped.push({ ...link, why });
    else create.push(link);
  }
  return { create, skipped };
}

/**
 * Creates the accepted symlinks under `root` (after every file is written). Each parent is
 * checked with lstat to be a real directory inside `root` (made when missing), never a link.
 */
export function createLinks(root: string, links: LinkEntry[]): { created: LinkEntry[]; skipped: SkippedLink[] } {
  const created: LinkEntry[] = [];
  const skipped: SkippedLink[] = [];
  for (const link of links) {
    const why = createOne(root, link);
    if (why) skipped.push({ ...link, why });
    else created.push(link);
  }
  return { created, skipped };
}

function createOne(root: string, link: LinkEntry): string | null {
  let dir = root;
  for (const segment of dirSegments(link.rel)) {
    dir = path.join(dir, segment);
    let stat: fs.Stats | null = null;
    try {
      stat = fs.lstatSync(dir);
    } catch {
      fs.mkdirSync(dir, { mode: 0o755 });
      continue;
    }
    if (!stat.isDirectory()) return 'its parent is not a directory';
  }
  try {
    fs.symlinkSync(link.target, path.join(root, link.rel));
    return null;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === 'EEXIST' ? 'something of that name exists' : `could not be created (${code ?? (error as Error).message})`;
  }
}
