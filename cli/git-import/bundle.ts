/**
 * The agent's commits come home (issue 23): a git bundle from the session — hostile input — is
 * verified in a QUARANTINE repository the laptop's git makes, and only then fetched into the
 * user's repository as `refs/remotes/catty/<label>/<branch>`. Nothing else of the user's
 * repository is written: not a branch, the index, the working tree, config or hooks.
 *
 *   bundle header parsed here (bounded; v2, or v3 with sha1 only; prerequisites refused: a full
 *   bundle needs none, and the quarantine has nothing to satisfy them) → refs judged (refs.ts:
 *   branches only, names git accepts, no clashes) → fresh quarantine (`git init`, the user's
 *   templates; hooks off, git.ts) → the pack through `git index-pack --strict` (git hashes
 *   every object; fsck's checks on each, warnings such as a tree entry `.git` or `..` made
 *   errors) → branches written there, each a commit → `git fsck --strict --full` (connectivity:
 *   every branch complete) → `git fetch` from the quarantine into the user's repository, refspec
 *   `+refs/heads/*:refs/remotes/catty/<label>/*` with --prune (only that namespace), fsck on
 *   fetch, no FETCH_HEAD, no tags, no submodules, no gc.
 *
 * The quarantine is removed in every case.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { git, gitInit, gitReason, type GitResult } from './git.js';
import { judgeRefs, OBJECT_ID, type LeftOut, type RefValue } from './refs.js';

/** The remote namespace the session's branches land under. */
export const REMOTE_PREFIX = 'refs/remotes/catty';

/** fsck checks that are warnings by default but must stop a hostile bundle (a user's
 * `fsck.<id> = ignore` would otherwise let them through). */
const STRICT_FSCK = ['hasDotgit', 'hasDotdot', 'hasDot', 'fullPathname', 'nullSha1', 'zeroPaddedFilemode', 'badFilemode', 'gitmodulesPath', 'gitmodulesUrl', 'gitmodulesName']
  .flatMap((id) => ['-c', `fsck.${id}=error`]);

/** Bytes of header read at most before the pack starts. */
const MAX_HEADER_BYTES = 4 * 1024 * 1024;

export type BundleImport =
  | { ok: true; branches: string[]; pruned: string[]; leftOut: LeftOut[] }
  | { ok: false; why: string };

class Refused extends Error {}

interface BundleHeader {
  refs: RefValue[];
  prerequisites: string[];
  /** Byte offset where the pack starts. */
  packOffset: number;
}

/** Parses the header of a bundle file (git's bundle-format: signature, capabilities, prerequisites, refs, blank line). */
export function readBundleHeader(file: string): BundleHeader {
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  let head: Buffer;
  try {
    const size = fs.fstatSync(fd).size;
    head = Buffer.alloc(Math.min(size, MAX_HEADER_BYTES));
    fs.readSync(fd, head, 0, head.length, 0);
  } finally {
    fs.closeSync(fd);
  }
  const end = head.indexOf('\n\n');
  if (end < 0) throw new Refused('not a git bundle (no header end)');
  const lines = head.subarray(0, end).toString('latin1').split('\n');
  const signature = lines.shift();
  if (signature !== '# v2 git bundle' && signature !== '# v3 git bundle') throw new Refused('not a git bundle (unknown signature)');
  const refs: RefValue[] = [];
  const prerequisites: string[] = [];
  for (const line of lines) {
    if (line.startsWith('@')) {
      if (signature !== '# v3 git bundle' || (line !== '@object-format=sha1' && !line.startsWith('@filter='))) throw new Refused(`an unsupported bundle capability (${line.slice(0, 60)})`);
      if (line.startsWith('@filter=')) throw new Refused('a filtered (partial) bundle');
      continue;
    }
    if (line.startsWith('-')) {
      const id = line.slice(1, 41);
      if (!OBJECT_ID.test(id)) throw new Refused('a damaged prerequisite line');
      prerequisites.push(id);
      continue;
    }
    const space = line.indexOf(' ');
    const id = line.slice(0, space);
    if (space !== 40 || !OBJECT_ID.test(id)) throw new Refused('a damaged ref line');
    // Names are judged as they are: UTF-8 bytes decoded, control characters and all (refs.ts refuses them).
    refs.push({ name: Buffer.from(line.slice(space + 1), 'latin1').toString('utf8'), id });
  }
  return { refs, prerequisites, packOffset: end + 2 };
}

/**
 * Brings the branches of the bundle at `bundleFile` into the repository at `userGitDir` under
 * `refs/remotes/catty/<label>/`. `env`: the user's environment (GIT_* dropped by git.ts).
 */
export async function importBundle(bundleFile: string, userGitDir: string, label: string, env: NodeJS.ProcessEnv): Promise<BundleImport> {
  const quarantine = fs.mkdtempSync(path.join(os.tmpdir(), 'catty-quarantine-'));
  try {
    return await verifyAndFetch(bundleFile, quarantine, userGitDir, label, env);
  } catch (error) {
    if (error instanceof Refused) return { ok: false, why: error.message };
    return { ok: false, why: `unexpected error: ${(error as Error).message}` };
  } finally {
    fs.rmSync(quarantine, { recursive: true, force: true });
  }
}

function must(result: GitResult, what: string): GitResult {
  if (result.code !== 0) throw new Refused(`${what}: ${gitReason(result)}`);
  return result;
}

async function verifyAndFetch(bundleFile: string, quarantine: string, userGitDir: string, label: string, env: NodeJS.ProcessEnv): Promise<BundleImport> {
  const header = readBundleHeader(bundleFile);
  if (header.prerequisites.length > 0) {
    throw new Refused(`the bundle needs ${header.prerequisites.length} commit(s) it does not contain (prerequisites such as ${header.prerequisites[0]}); a session sends whole branches`);
  }
  const workTree = path.join(quarantine, 'repo');
  fs.mkdirSync(workTree);
  must(await gitInit(workTree, env), 'git init of the quarantine failed');
  const gitDir = path.join(workTree, '.git');
  const run = (args: string[], input?: string | { file: string }) => git([...STRICT_FSCK, ...args], { gitDir, env, input });

  const judged = await judgeRefs(header.refs, gitDir, env);
  const leftOut = [...judged.leftOut];
  const branches = judged.keep.filter((ref) => ref.name.startsWith('refs/heads/'));

  // The pack, alone in a file of its own, through index-pack: git hashes and checks every object.
  const packFile = path.join(quarantine, 'incoming.pack');
  copyTail(bundleFile, header.packOffset, packFile);
  must(await run(['index-pack', '--strict', '--stdin'], { file: packFile }), 'the bundle failed git\'s checks');
  fs.rmSync(packFile);

  const types = new Map<string, string>();
  if (branches.length > 0) {
    const checked = must(await run(['cat-file', '--batch-check'], branches.map((r) => `${r.id}\n`).join('')), 'reading the bundle failed');
    for (const line of checked.stdout.split('\n')) {
      const [id, type] = line.split(' ');
      if (id && type) types.set(id, type);
    }
  }
  const kept = branches.filter((ref) => {
    const type = types.get(ref.id);
    const why = !type || type === 'missing' ? 'its commit is not in the bundle' : type !== 'commit' ? `a branch must name a commit, not a ${type}` : null;
    if (why) leftOut.push({ name: ref.name, why });
    return !why;
  });
  if (kept.length === 0) throw new Refused(header.refs.length === 0 ? 'the bundle has no branches' : `none of its branches could be used (${leftOut.map((l) => `${l.name}: ${l.why}`).slice(0, 3).join('; ')})`);
  must(await run(['update-ref', '--stdin'], kept.map((r) => `create ${r.name} ${r.id}\n`).join('')), 'writing the branches in the quarantine failed');
  must(await run(['fsck', '--strict', '--full', '--no-dangling', '--no-progress']), 'git fsck found problems in the bundle');

  const namespace = `${REMOTE_PREFIX}/${label}`;
  const before = await remoteRefs(userGitDir, namespace, env);
  const fetched = await git(
    [
      ...STRICT_FSCK,
      '-c', 'protocol.file.allow=always',
      '-c', 'fetch.fsckObjects=true',
      '-c', 'transfer.fsckObjects=true',
      '-c', 'fetch.recurseSubmodules=false',
      '-c', 'fetch.writeCommitGraph=false',
      'fetch', '--quiet', '--no-tags', '--no-write-fetch-head', '--no-auto-gc', '--no-auto-maintenance', '--no-recurse-submodules', '--prune',
      gitDir, `+refs/heads/*:${namespace}/*`,
    ],
    { gitDir: userGitDir, env },
  );
  must(fetched, 'fetching into your repository failed');
  const after = await remoteRefs(userGitDir, namespace, env);
  return {
    ok: true,
    branches: kept.map((r) => r.name.slice('refs/heads/'.length)),
    pruned: before.filter((name) => !after.includes(name)),
    leftOut,
  };
}

/** Copies `file` from `offset` on into a new private file `to`. */
function copyTail(file: string, offset: number, to: string): void {
  const input = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  const output = fs.openSync(to, 'wx', 0o600);
  try {
    const buf = Buffer.alloc(1024 * 1024);
    for (let at = offset; ; ) {
      const n = fs.readSync(input, buf, 0, buf.length, at);
      if (n === 0) break;
      fs.writeSync(output, buf, 0, n);
      at += n;
    }
  } finally {
    fs.closeSync(input);
    fs.closeSync(output);
  }
}

/** The branch names under `namespace` in the user's repository. */
async function remoteRefs(gitDir: string, namespace: string, env: NodeJS.ProcessEnv): Promise<string[]> {
  const result = await git(['for-each-ref', '--format=%(refname)', `${namespace}/`], { gitDir, env });
  return result.code === 0 ? result.stdout.split('\n').filter(Boolean).map((name) => name.slice(namespace.length + 1)) : [];
}
