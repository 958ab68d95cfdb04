/**
 * The one way history from a session reaches the laptop: objects and refs, nothing else, into a
 * repository the laptop's own git made. The session's `.git` is untrusted (the agent controls
 * its config, hooks, attributes, alternates…), so it is only ever read as files (source.ts);
 * git runs only in the new repository, with hooks and fsmonitor off (git.ts).
 *
 *   git init (fresh, the user's own templates and config) → loose objects copied by name,
 *   packs fed through `git index-pack` (git hashes every object itself) → refs judged
 *   (refs.ts) and written by `git update-ref` where their object exists (branches: commits) →
 *   HEAD as a symbolic ref to an imported branch (or a commit, detached) → `shallow` when every
 *   line is a commit present → `git fsck --strict --full` → the index rebuilt from HEAD
 *   (`git reset`: the session's index and its extensions are never read).
 *
 * Any failure removes the new repository entirely: never a half-made one. Issue 23 brings the
 * agent's commits home through these same steps.
 */
import fs from 'node:fs';
import path from 'node:path';
import { git, gitInit, gitReason, type GitResult } from './git.js';
import { judgeRefs, OBJECT_ID, refNameProblem, type LeftOut } from './refs.js';
import { readGitSource, SourceProblem, type GitSource } from './source.js';

export type ImportOutcome =
  | {
      ok: true;
      branches: string[];
      tags: string[];
      /** Where HEAD was left: a branch name, `detached at <id>`, or the unborn default. */
      head: string;
      leftOut: LeftOut[];
      /** Notes for the user: what was found and not used, a HEAD that could not be kept. */
      notes: string[];
    }
  | { ok: false; why: string };

class ImportFailed extends Error {}

/**
 * Imports the untrusted repository at `source` into a new repository at `workTree/.git`, which
 * must not exist yet. `env`: the user's environment (its GIT_* variables are dropped).
 */
export async function importHistory(source: string, workTree: string, env: NodeJS.ProcessEnv): Promise<ImportOutcome> {
  const gitDir = path.join(workTree, '.git');
  if (lstatOrNull(gitDir)) return { ok: false, why: `${gitDir} already exists` };
  try {
    return await build(readGitSource(source), workTree, gitDir, env);
  } catch (error) {
    fs.rmSync(gitDir, { recursive: true, force: true });
    if (error instanceof ImportFailed || error instanceof SourceProblem) return { ok: false, why: error.message };
    return { ok: false, why: `unexpected error: ${(error as Error).message}` };
  }
}

function lstatOrNull(file: string): fs.Stats | null {
  try {
    return fs.lstatSync(file);
  } catch {
    return null;
  }
}

function must(result: GitResult, what: string): GitResult {
  if (result.code !== 0) throw new ImportFailed(`${what}: ${gitReason(result)}`);
  return result;
}

async function build(src: GitSource, workTree: string, gitDir: string, env: NodeJS.ProcessEnv): Promise<ImportOutcome> {
  must(await gitInit(workTree, env), 'git init failed');
  const run = (args: string[], input?: string | { file: string }) => git(args, { gitDir, workTree, env, input });

  copyLooseObjects(src.loose, gitDir);
  for (const pack of src.packs) must(await run(['index-pack', '--stdin'], { file: pack }), `${path.basename(pack)} is not a valid pack`);

  const judged = await judgeRefs(src.refs, gitDir, env);
  const leftOut = [...judged.leftOut];
  const types = await objectTypes([...judged.keep.map((r) => r.id), ...(src.head && OBJECT_ID.test(src.head) ? [src.head] : [])], gitDir, workTree, env);
  const refs = judged.keep.filter((ref) => {
    const type = types.get(ref.id);
    const why = !type ? 'its object is not in the snapshot' : ref.name.startsWith('refs/heads/') && type !== 'commit' ? `a branch must name a commit, not a ${type}` : null;
    if (why) leftOut.push({ name: ref.name, why });
    return !why;
  });
  if (refs.length === 0 && src.refs.length > 0) {
    const first = leftOut[0] as LeftOut;
    throw new ImportFailed(`none of its ${src.refs.length} refs could be imported: ${first.name}: ${first.why}`);
  }
  if (refs.length > 0) must(await run(['update-ref', '--stdin'], refs.map((r) => `create ${r.name} ${r.id}\n`).join('')), 'writing the refs failed');
  const branches = refs.filter((r) => r.name.startsWith('refs/heads/')).map((r) => r.name.slice('refs/heads/'.length));
  const tags = refs.filter((r) => r.name.startsWith('refs/tags/')).map((r) => r.name.slice('refs/tags/'.length));

  const notes = src.ignored.map((what) => `ignored ${what}`);
  const head = await setHead(src.head, branches, types, run, notes);

  if (src.shallow) await writeShallow(src.shallow, gitDir, workTree, env);
  must(await run(['fsck', '--strict', '--full', '--no-dangling', '--no-progress']), 'git fsck found problems');
  if ((await run(['rev-parse', '--verify', '-q', 'HEAD^{commit}'])).code === 0) must(await run(['reset', '-q']), 'rebuilding the index failed');
  return { ok: true, branches, tags, head, leftOut, notes };
}

/** Copies loose objects by name; their content is verified by `git fsck` (hash-path check). */
function copyLooseObjects(loose: GitSource['loose'], gitDir: string): void {
  for (const { file, id } of loose) {
    const dir = path.join(gitDir, 'objects', id.slice(0, 2));
    fs.mkdirSync(dir, { recursive: true });
    const target = path.join(dir, id.slice(2));
    fs.copyFileSync(file, target, fs.constants.COPYFILE_EXCL);
    fs.chmodSync(target, 0o444);
  }
}

/** The type of each id present in the new repository (`git cat-file --batch-check`). */
async function objectTypes(ids: string[], gitDir: string, workTree: string, env: NodeJS.ProcessEnv): Promise<Map<string, string>> {
  const types = new Map<string, string>();
  if (ids.length === 0) return types;
  const result = must(await git(['cat-file', '--batch-check'], { gitDir, workTree, env, input: ids.map((id) => `${id}\n`).join('') }), 'reading objects failed');
  for (const line of result.stdout.split('\n')) {
    const [id, type] = line.split(' ');
    if (id && type && type !== 'missing') types.set(id, type);
  }
  return types;
}

/** HEAD: the session's branch if it was imported, a commit (detached), else the new repository's default branch. */
async function setHead(
  head: string | null,
  branches: string[],
  types: Map<string, string>,
  run: (args: string[]) => Promise<GitResult>,
  notes: string[],
): Promise<string> {
  const symbolic = head?.match(/^ref: (refs\/heads\/.+)$/)?.[1];
  if (symbolic) {
    const branch = symbolic.slice('refs/heads/'.length);
    // An unborn branch (no commit yet) is kept only in a repository without branches.
    const usable = branches.includes(branch) || (branches.length === 0 && refNameProblem(symbolic) === null && (await run(['check-ref-format', symbolic])).code === 0);
    if (usable) {
      must(await run(['symbolic-ref', 'HEAD', symbolic]), 'setting HEAD failed');
      return branch;
    }
  } else if (head && OBJECT_ID.test(head) && types.get(head) === 'commit') {
    must(await run(['update-ref', '--no-deref', 'HEAD', head]), 'setting HEAD failed');
    return `detached at ${head.slice(0, 12)}`;
  }
  const fallback = (await run(['symbolic-ref', '--short', 'HEAD'])).stdout.trim();
  notes.push(`HEAD (${head === null ? 'missing' : JSON.stringify(head.slice(0, 80))}) names nothing that was imported; it was left on ${fallback}`);
  return fallback;
}

/** `shallow` lists the commits whose parents a shallow clone lacks; each must be a commit here. */
async function writeShallow(lines: string[], gitDir: string, workTree: string, env: NodeJS.ProcessEnv): Promise<void> {
  if (!lines.every((line) => OBJECT_ID.test(line))) throw new ImportFailed('the shallow file is damaged');
  const types = await objectTypes(lines, gitDir, workTree, env);
  if (!lines.every((id) => types.get(id) === 'commit')) throw new ImportFailed('the shallow file names commits that are not in the snapshot');
  fs.writeFileSync(path.join(gitDir, 'shallow'), lines.map((id) => `${id}\n`).join(''), { mode: 0o644, flag: 'wx' });
}
