/**
 * Reads an untrusted repository directory (a session's `.git`, extracted into a private
 * directory) as plain files, never with git and never through a link: every directory is
 * lstat'ed before it is entered, every file opened with O_NOFOLLOW and checked to be a regular
 * file of bounded size. Only what the importer keeps is looked at — loose objects
 * (`objects/xx/<38 hex>`), packs (`objects/pack/pack-<40 hex>.pack`; git rebuilds the index),
 * `refs/heads/**`, `refs/tags/**`, `packed-refs`, `HEAD` and `shallow`. Everything else (config,
 * hooks, info/, modules/, worktrees/, objects/info/alternates, the index…) is never read.
 */
import fs from 'node:fs';
import path from 'node:path';
import { MAX_REFS, parseLooseRef, parsePackedRefs, type RefValue } from './refs.js';

export interface GitSource {
  /** Absolute paths of loose object files, with their ids. */
  loose: { file: string; id: string }[];
  /** Absolute paths of pack files. */
  packs: string[];
  refs: RefValue[];
  /** HEAD's text (trimmed), or null when absent or unreadable. */
  head: string | null;
  /** Lines of `shallow`, or null when there is none. */
  shallow: string[] | null;
  /** What was found and deliberately not used, for the user (e.g. alternates). */
  ignored: string[];
}

/** Why the directory cannot be imported at all. */
export class SourceProblem extends Error {}

const SMALL_FILE = 4096;
const MAX_PACKED_REFS = 64 * 1024 * 1024;
const MAX_REF_DEPTH = 32;

function lstatOrNull(file: string): fs.Stats | null {
  try {
    return fs.lstatSync(file);
  } catch {
    return null;
  }
}

/** The text of a regular file (never a link), or null when it is absent; larger than `max` is a problem. */
export function readRegularFile(file: string, max: number): string | null {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    throw new SourceProblem(`${path.basename(file)} cannot be read (${code === 'ELOOP' ? 'a link' : code})`);
  }
  try {
    const stat = fs.fstatSync(fd);
    if (!stat.isFile()) throw new SourceProblem(`${path.basename(file)} is not a regular file`);
    if (stat.size > max) throw new SourceProblem(`${path.basename(file)} is larger than ${max} bytes`);
    return fs.readFileSync(fd, 'utf8');
  } finally {
    fs.closeSync(fd);
  }
}

/** The names in `dir` when it is a real directory (not a link), else null. */
function realDirEntries(dir: string): string[] | null {
  const stat = lstatOrNull(dir);
  if (!stat?.isDirectory()) return null;
  return fs.readdirSync(dir);
}

export function readGitSource(root: string): GitSource {
  const ignored: string[] = [];
  const objectsDir = path.join(root, 'objects');
  const objectsStat = lstatOrNull(objectsDir);
  if (objectsStat && !objectsStat.isDirectory()) throw new SourceProblem(`.git/objects is ${objectsStat.isSymbolicLink() ? 'a link' : 'not a directory'}`);
  const loose: GitSource['loose'] = [];
  const packs: string[] = [];
  for (const name of realDirEntries(objectsDir) ?? []) {
    if (/^[0-9a-f]{2}$/.test(name)) {
      const dir = path.join(objectsDir, name);
      for (const rest of realDirEntries(dir) ?? []) {
        const file = path.join(dir, rest);
        if (/^[0-9a-f]{38}$/.test(rest) && lstatOrNull(file)?.isFile()) loose.push({ file, id: name + rest });
      }
    } else if (name === 'pack') {
      for (const file of realDirEntries(path.join(objectsDir, 'pack')) ?? []) {
        const abs = path.join(objectsDir, 'pack', file);
        if (/^pack-[0-9a-f]{40}\.pack$/.test(file) && lstatOrNull(abs)?.isFile()) packs.push(abs);
      }
    } else if (name === 'info' && lstatOrNull(path.join(objectsDir, 'info', 'alternates'))) {
      ignored.push('objects/info/alternates (it would lend objects from paths on this machine)');
    }
  }

  const refs = new Map<string, RefValue>();
  const packed = readRegularFile(path.join(root, 'packed-refs'), MAX_PACKED_REFS);
  if (packed !== null) {
    const parsed = parsePackedRefs(packed);
    for (const ref of parsed.refs) refs.set(ref.name, ref);
    if (parsed.bad > 0) ignored.push(`${parsed.bad} unreadable line${parsed.bad === 1 ? '' : 's'} of packed-refs`);
  }
  // Loose refs win over packed ones, as in git.
  const walk = (rel: string, depth: number) => {
    if (depth > MAX_REF_DEPTH) throw new SourceProblem('refs/ is nested too deep');
    const abs = path.join(root, rel);
    const stat = lstatOrNull(abs);
    if (!stat) return;
    if (stat.isDirectory()) {
      for (const name of fs.readdirSync(abs)) walk(`${rel}/${name}`, depth + 1);
    } else if (stat.isFile()) {
      if (refs.size >= MAX_REFS) throw new SourceProblem(`more than ${MAX_REFS} refs`);
      refs.set(rel, { name: rel, id: parseLooseRef(readRegularFile(abs, SMALL_FILE) ?? '') });
    } else {
      refs.set(rel, { name: rel, id: null });
    }
  };
  const refsStat = lstatOrNull(path.join(root, 'refs'));
  if (refsStat && !refsStat.isDirectory()) throw new SourceProblem('.git/refs is not a directory');
  walk('refs/heads', 0);
  walk('refs/tags', 0);
  if (refs.size > MAX_REFS) throw new SourceProblem(`more than ${MAX_REFS} refs`);

  const head = readRegularFile(path.join(root, 'HEAD'), SMALL_FILE)?.trim() ?? null;
  const shallowText = readRegularFile(path.join(root, 'shallow'), MAX_PACKED_REFS);
  const shallow = shallowText === null ? null : shallowText.split('\n').filter((line) => line !== '');
  return { loose, packs, refs: [...refs.values()], head, shallow, ignored };
}
