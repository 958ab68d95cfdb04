/**
 * GET /files/diff?path=P: both sides of one file, the base's (base.ts) and the workspace's.
 *
 * `path` is hostile input: the API passes through what a browser or a share link sent. It must
 * be a relative path by the seam's rules (safe-path.ts: no absolute path, `..`, NUL or control
 * character, bounded length and depth) and outside `.git` (the tree does not list it). The
 * workspace's file is opened without following a link anywhere on its path (no-follow.ts); a
 * link there is refused (409 `symlink`), never read. Memory is bounded: at most
 * MAX_DIFF_TEXT_BYTES + 1 of each side is read; a larger file is hashed in chunks.
 */
import fs from 'node:fs';
import { isUtf8 } from 'node:buffer';
import { MAX_DIFF_TEXT_BYTES, type FileChange, type FileDiff, type FileSide } from '../wire/protocol.js';
import { isGitPath, relativePathProblem } from '../wire/safe-path.js';
import { sha256Hex, type BaseStore } from './base.js';
import { HASH_MAX_BYTES, Slicer, type HashCache } from './current.js';
import { openFileNoFollow, openRoot, readUpTo } from './no-follow.js';

export type DiffOutcome = { ok: true; diff: FileDiff } | { ok: false; status: number; code: string; message: string };

const refused = (status: number, code: string, message: string): DiffOutcome => ({ ok: false, status, code, message });

/** text: UTF-8 without NUL; binary otherwise. */
function sideOf(data: Buffer): FileSide {
  const sha256 = sha256Hex(data);
  if (data.includes(0) || !isUtf8(data)) return { size: data.length, sha256, kind: 'binary' };
  return { size: data.length, sha256, kind: 'text', text: data.toString('utf8') };
}

/** The workspace's side: null when there is no regular file at `rel`; 'symlink' when a link is on its path. */
async function currentSide(workspace: string, rel: string, hashes: HashCache): Promise<FileSide | null | 'symlink'> {
  let rootFd: number;
  try {
    rootFd = openRoot(workspace);
  } catch {
    return null;
  }
  let opened: ReturnType<typeof openFileNoFollow>;
  try {
    opened = openFileNoFollow(rootFd, rel);
  } finally {
    fs.closeSync(rootFd);
  }
  if (opened.kind === 'symlink') return 'symlink';
  if (opened.kind !== 'file') return null;
  const { fd } = opened;
  try {
    // One byte more than the limit: a file that grew past it since fstat is too large, not cut.
    const data = readUpTo(fd, MAX_DIFF_TEXT_BYTES + 1);
    if (data.length <= MAX_DIFF_TEXT_BYTES) return sideOf(data);
    const st = fs.fstatSync(fd, { bigint: true });
    const size = Math.max(Number(st.size), data.length);
    const sha256 = size > HASH_MAX_BYTES ? '' : await hashes.sha256(rel, fd, st, new Slicer());
    return { size, sha256, kind: 'too_large' };
  } finally {
    fs.closeSync(fd);
  }
}

export async function fileDiff(workspace: string, base: BaseStore, hashes: HashCache, rel: string | null): Promise<DiffOutcome> {
  if (rel === null) return refused(400, 'invalid_request', 'Name the file: GET /files/diff?path=<relative path>');
  const problem = relativePathProblem(rel);
  if (problem) return refused(400, 'invalid_path', `Not a workspace path (${problem}): give a relative path as GET /files lists it`);
  if (isGitPath(rel)) return refused(404, 'not_found', 'The Files view does not show .git');
  const current = await currentSide(workspace, rel, hashes);
  if (current === 'symlink') return refused(409, 'symlink', 'A symbolic link is on this path: the Files view shows no content through links');
  const recorded = base.files.get(rel);
  let baseSide: FileSide | null = null;
  if (recorded) {
    const { size, sha256 } = recorded;
    if (size > MAX_DIFF_TEXT_BYTES) baseSide = { size, sha256, kind: 'too_large' };
    else {
      const data = await base.content(recorded);
      baseSide = data ? sideOf(data) : { size, sha256, kind: 'not_kept' };
    }
  }
  if (!current && !baseSide) return refused(404, 'not_found', 'No such file in the workspace or its base');
  let change: FileChange | undefined;
  if (!baseSide) change = 'added';
  else if (!current) change = 'deleted';
  else if (current.size !== baseSide.size || current.sha256 === '' || current.sha256 !== baseSide.sha256) change = 'modified';
  const diff: FileDiff = { path: rel, base: baseSide, current };
  if (change) diff.change = change;
  return { ok: true, diff };
}
