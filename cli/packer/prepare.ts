/**
 * Everything `catty new` learns about the upload before it asks for a machine: the walk (with
 * the repository's `.gitignore` files above the project, and a counting spinner when it takes
 * a while), whether it fits the cap, and which files git tracks that catty's defaults leave out.
 */
import fs from 'node:fs';
import path from 'node:path';
import ignore from 'ignore';
import type { Context } from '../context.js';
import { DEFAULT_IGNORES } from '../../session-runtime/wire/ignore-rules.js';
import { leavesRoot } from '../../session-runtime/wire/safe-path.js';
import { outerIgnoreRules, trackedFiles } from './git.js';
import { checkUploadFits } from './preflight.js';
import { countSpinner } from './progress.js';
import { realpathOr, walkWorkspace, type WalkResult } from './walk.js';

export interface PreparedUpload {
  walk: WalkResult;
  /** Files git tracks that catty's default ignores leave out (so the session's git sees them deleted). */
  trackedLeftOut: string[];
}

export async function prepareUpload(ctx: Context, options: { git: boolean; maxBytes: number }): Promise<PreparedUpload> {
  const tracked = trackedFiles(ctx.cwd);
  let found = 0;
  const scanning = countSpinner(ctx.stderr, () => `Scanning ${ctx.cwd}: ${found} files so far`);
  let walk: WalkResult;
  try {
    walk = await walkWorkspace(ctx.cwd, {
      ignoreGit: !options.git,
      outer: outerIgnoreRules(ctx.cwd),
      excludeDirs: cattyHomeInside(ctx),
      onProgress: (files) => (found = files),
    });
  } finally {
    scanning.stop();
  }
  const measuring = countSpinner(ctx.stderr, () => `Measuring the upload (${walk.files.length} files)…`);
  try {
    await checkUploadFits(walk, options.maxBytes);
  } finally {
    measuring.stop();
  }
  return { walk, trackedLeftOut: trackedLeftOut(ctx.cwd, walk, (await tracked) ?? []) };
}

/** $CATTY_HOME (credentials, secrets, their key) never goes into a session, even from a home directory. */
function cattyHomeInside(ctx: Context): string[] {
  const back = path.relative(realpathOr(ctx.cwd), realpathOr(ctx.home));
  if (back === '' || leavesRoot(back)) return [];
  return [back.split(path.sep).join('/')];
}

function trackedLeftOut(root: string, walk: WalkResult, tracked: string[]): string[] {
  if (tracked.length === 0) return [];
  const uploaded = new Set(walk.files.map((f) => f.rel));
  const defaults = ignore().add([...DEFAULT_IGNORES]);
  return tracked.filter((rel) => !uploaded.has(rel) && defaults.ignores(rel) && isFile(path.join(root, rel)));
}

/** The `.cattyignore` line that brings `rel` back: its shallowest default-ignored directory, or itself. */
export function includeLine(rel: string): string {
  const defaults = ignore().add([...DEFAULT_IGNORES]);
  const segments = rel.split('/');
  for (let depth = 1; depth < segments.length; depth++) {
    const dir = segments.slice(0, depth).join('/');
    if (defaults.ignores(`${dir}/`)) return `!${dir}/`;
  }
  return `!${rel}`;
}

function isFile(file: string): boolean {
  try {
    return fs.lstatSync(file).isFile();
  } catch {
    return false;
  }
}
