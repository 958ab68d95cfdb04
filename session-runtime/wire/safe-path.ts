/**
 * Path rules shared by everything that writes files named by someone else: the runtime's zip
 * extraction, the CLI's sync-back and `catty download`. A leaf module (nothing of ours imported).
 *
 * A path from outside is a relative POSIX path: no leading `/`, no backslash, no drive letter,
 * no NUL or other control characters, no `.`/`..`/empty segments, bounded in length and depth.
 * Containment is checked with `path.relative`, never with a string prefix (SECURITY.md 2).
 */
import path from 'node:path';

export const MAX_PATH_BYTES = 4096;
export const MAX_SEGMENT_BYTES = 255;
export const MAX_PATH_DEPTH = 64;

/** Returns why `rel` is not an acceptable relative path, or null when it is. */
export function relativePathProblem(rel: string): string | null {
  if (rel.length === 0) return 'empty path';
  if (Buffer.byteLength(rel) > MAX_PATH_BYTES) return 'path too long';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(rel)) return 'control character in path';
  if (rel.includes('\\')) return 'backslash in path';
  if (rel.startsWith('/')) return 'absolute path';
  if (/^[a-zA-Z]:/.test(rel)) return 'drive letter in path';
  const segments = rel.split('/');
  if (segments.length > MAX_PATH_DEPTH) return 'path too deep';
  for (const segment of segments) {
    if (segment === '' || segment === '.' || segment === '..') return 'path has an empty, "." or ".." segment';
    if (Buffer.byteLength(segment) > MAX_SEGMENT_BYTES) return 'path segment too long';
  }
  return null;
}

/** Whether `rel` is inside a `.git` directory (any case) or is one. */
export function isGitPath(rel: string): boolean {
  return rel.split('/').some((segment) => segment.toLowerCase() === '.git');
}

/**
 * Resolves `rel` against `root` and returns the absolute path, or null when it would leave
 * `root` (or is `root` itself). Checks with path.relative, so `/workspace2/x` is not inside
 * `/workspace`.
 */
export function resolveInside(root: string, rel: string): string | null {
  const base = path.resolve(root);
  const target = path.resolve(base, rel);
  const back = path.relative(base, target);
  if (back === '' || leavesRoot(back)) return null;
  return target;
}

/**
 * Whether `back`, a result of `path.relative(root, p)`, names a place outside `root`: absolute
 * (another drive), or `..` as its whole first segment. The one test of it in the code base: a
 * name that merely starts with two dots (`..prettierrc-old`, `...`) is inside.
 */
export function leavesRoot(back: string): boolean {
  if (path.isAbsolute(back)) return true;
  const first = back.split(/[\\/]/, 1)[0];
  return first === '..';
}

/** The key under which two paths count as the same file on a case-insensitive or
 * normalising file system (SECURITY.md 8). */
export function collisionKey(rel: string): string {
  return rel.normalize('NFC').toLowerCase();
}

/**
 * Every character that can mislead someone reading a terminal: C0 and C1 controls and DEL (escape
 * sequences), the bidi embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069) and
 * marks (U+200E, U+200F, U+061C) that reorder what is shown, the zero-width characters (U+200B–
 * U+200D, U+2060, U+FEFF, U+180E) that hide a difference, and the line and paragraph separators
 * (U+2028, U+2029) that some terminals and logs break lines on.
 */
// eslint-disable-next-line no-control-regex
const MISLEADING = /[\u0000-\u001f\u007f-\u009f\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060\u2066-\u2069\ufeff]/g;

/** Makes a name safe to print: each character above becomes a visible escape (`\x1b`,
 * `\u{202e}`), so a hostile file name can neither inject escape sequences nor pass for another
 * name (SECURITY.md 17). */
export function escapeForTerminal(text: string): string {
  return text.replace(MISLEADING, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u{${code.toString(16)}}`;
  });
}
