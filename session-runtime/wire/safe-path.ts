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
  if (back === '' || back.startsWith('..') || path.isAbsolute(back)) return null;
  if (back.split(path.sep)[0] === '..') return null;
  return target;
}

/** The key under which two paths count as the same file on a case-insensitive or
 * normalising file system (SECURITY.md 8). */
export function collisionKey(rel: string): string {
  return rel.normalize('NFC').toLowerCase();
}

/** Makes a name safe to print: control characters (and DEL, and C1 controls) become escapes,
 * so a hostile file name cannot inject terminal escape sequences (SECURITY.md 17). */
export function escapeForTerminal(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
