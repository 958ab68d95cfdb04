/**
 * What the git repository around the project says about the upload: the `.gitignore` files
 * above the project directory (git applies them; the walk alone would not see them) and the
 * files git tracks (so a tracked file that catty's defaults leave out can be named).
 *
 * Git itself is optional: the `.gitignore` files are read directly, and the tracked files are
 * asked of `git ls-files` only when git is installed — without it that note is quietly skipped.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import ignore from 'ignore';
import type { OuterIgnoreRules } from '../../session-runtime/wire/ignore-rules.js';
import { realpathOr } from './walk.js';

/** The nearest directory at or above `dir` holding `.git` (a directory, or a worktree's file). */
export function findRepoRoot(dir: string): string | null {
  let current = dir;
  for (;;) {
    if (fs.existsSync(path.join(current, '.git'))) return current;
    const parent = path.dirname(current);
    if (parent === current) return null;
    current = parent;
  }
}

/**
 * The `.gitignore` rules of the directories from the repository root down to the project's
 * parent, shallowest first, each applying to paths relative to its own directory (as git does).
 * A file whose rules ignore the project directory itself is left out: the user chose to run
 * catty there, and under git's rule nothing inside could be re-included.
 */
export function outerIgnoreRules(root: string): OuterIgnoreRules[] {
  const project = realpathOr(root);
  const repo = findRepoRoot(project);
  if (!repo || repo === project) return [];
  const layers: OuterIgnoreRules[] = [];
  const steps = path.relative(repo, project).split(path.sep);
  for (let depth = 0; depth < steps.length; depth++) {
    const dir = path.join(repo, ...steps.slice(0, depth));
    const text = readSmallFile(path.join(dir, '.gitignore'));
    if (text === null) continue;
    const rules = ignore().add(text);
    const prefix = steps.slice(depth).join('/');
    if (rules.ignores(`${prefix}/`)) continue;
    layers.push({ rules, prefix });
  }
  return layers;
}

/** Output of `git ls-files` at most: a repository this large is not uploaded whole anyway. */
const MAX_LS_FILES_BYTES = 64 * 1024 * 1024;

/**
 * The files git tracks under `root` (relative POSIX paths), or null when `root` is not in a
 * repository, git is not installed, or it fails: the caller then says nothing.
 */
export async function trackedFiles(root: string): Promise<string[] | null> {
  if (!findRepoRoot(realpathOr(root))) return null;
  return new Promise((resolve) => {
    // Run in `root`, ls-files lists only what is under it, relative to it.
    execFile('git', ['ls-files', '-z'], { cwd: root, maxBuffer: MAX_LS_FILES_BYTES, encoding: 'buffer', windowsHide: true }, (error, stdout) => {
      if (error) return resolve(null);
      resolve(stdout.toString('utf8').split('\0').filter((rel) => rel.length > 0));
    });
  });
}

function readSmallFile(file: string): string | null {
  try {
    const stat = fs.statSync(file);
    if (!stat.isFile() || stat.size > 1024 * 1024) return null;
    return fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}
