/**
 * Extracts a snapshot tarball as hostile input (SECURITY.md 3–9): tar writes only File and
 * Directory entries, every path re-validated with safe-path (no absolute, no `..`, no
 * case/Unicode collisions), caps on entries and bytes, modes reduced to the exec bit, owners
 * never applied — into a fresh directory that the caller renames into place. Link entries are
 * held back and judged by links.ts once every file is written; an entry under a link is refused.
 */
import type * as Tar from 'tar';
import { collisionKey, escapeForTerminal, relativePathProblem } from '../../session-runtime/wire/safe-path.js';
import { UserError } from '../../session-runtime/wire/errors.js';
import { createLinks, judgeLinks, type LinkEntry, type SkippedLink } from './links.js';

export interface ExtractCaps {
  maxEntries: number;
  maxTotalBytes: number;
}

export const DEFAULT_EXTRACT_CAPS: ExtractCaps = { maxEntries: 1_000_000, maxTotalBytes: 20 * 1024 ** 3 };

export interface Extracted {
  files: number;
  bytes: number;
  /** Symlinks created (after every file). */
  links: LinkEntry[];
  /** Links left out, each with the reason: for the summary. */
  skippedLinks: SkippedLink[];
}

const LINK_TYPES: Record<string, LinkEntry['kind'] | undefined> = { SymbolicLink: 'symlink', Link: 'hardlink' };

export async function extractSnapshot(file: string, into: string, caps: ExtractCaps = DEFAULT_EXTRACT_CAPS): Promise<Extracted> {
  let problem: string | null = null;
  let entries = 0;
  let files = 0;
  let bytes = 0;
  const seen = new Map<string, 'file' | 'dir'>();
  const links: LinkEntry[] = [];
  /** Collision keys of link entries, and of every directory some entry lies under. */
  const linkKeys = new Set<string>();
  const parentKeys = new Set<string>();
  const refuse = (why: string) => {
    problem ??= why;
    return false;
  };
  const filter = (entryPath: string, entry: Tar.ReadEntry | import('node:fs').Stats): boolean => {
    if (problem) return false;
    const e = entry as Tar.ReadEntry;
    const rel = entryPath.replace(/^\.\/+/, '').replace(/\/+$/, '');
    if (rel === '' || rel === '.') return e.type === 'Directory';
    const pathProblem = relativePathProblem(rel);
    if (pathProblem) return refuse(`bad entry ${escapeForTerminal(rel)}: ${pathProblem}`);
    const linkKind = LINK_TYPES[e.type];
    if (e.type !== 'File' && e.type !== 'OldFile' && e.type !== 'Directory' && !linkKind) return refuse(`unsupported ${e.type} entry ${escapeForTerminal(rel)}`);
    if (++entries > caps.maxEntries) return refuse(`more than ${caps.maxEntries} entries`);
    const kind = e.type === 'Directory' ? 'dir' : 'file';
    const key = collisionKey(rel);
    const before = seen.get(key);
    if (before && (before === 'file' || kind === 'file')) return refuse(`two entries collide: ${escapeForTerminal(rel)}`);
    seen.set(key, kind);
    // No entry under a link, in either order: written later, it would go through the link.
    const segments = key.split('/');
    for (let depth = 1; depth < segments.length; depth++) {
      const parent = segments.slice(0, depth).join('/');
      if (linkKeys.has(parent)) return refuse(`${escapeForTerminal(rel)} lies under a link`);
      parentKeys.add(parent);
    }
    if (linkKind) {
      if (parentKeys.has(key)) return refuse(`the link ${escapeForTerminal(rel)} has entries under it`);
      linkKeys.add(key);
      links.push({ rel, target: e.linkpath ?? '', kind: linkKind });
      return false;
    }
    if (kind === 'file') {
      files++;
      bytes += e.size ?? 0;
      if (bytes > caps.maxTotalBytes) return refuse(`more than ${caps.maxTotalBytes} bytes uncompressed`);
      e.mode = (e.mode ?? 0) & 0o100 ? 0o755 : 0o644;
    } else {
      e.mode = 0o755;
    }
    return true;
  };
  // Loaded here, not at the top: every other command would pay ~20 ms to load it.
  const tar = await import('tar');
  try {
    await tar.x({
      file,
      cwd: into,
      filter,
      strict: true,
      preserveOwner: false,
      preservePaths: false,
      noMtime: false,
      maxDepth: 64,
      onwarn: (_code, message) => {
        problem ??= `archive problem: ${message}`;
      },
    });
  } catch (error) {
    throw new UserError(`The snapshot is not a valid archive: ${(error as Error).message}`);
  }
  if (problem) throw new UserError(`Refusing the snapshot: ${problem}.`, { hint: 'Nothing was written.' });
  // Only now, with every file on disk, and never through tar: symlink(2) follows nothing.
  const judged = judgeLinks(links);
  const made = createLinks(into, judged.create);
  return { files, bytes, links: made.created, skippedLinks: [...judged.skipped, ...made.skipped] };
}
