/**
 * Which of a session's branches came home: the refs under refs/remotes/catty/<label>/ in the
 * repository of the session's local directory (what `catty git`, detach, exit and stop wrote),
 * for `catty list --json`. Read with the importer's hardened git (no hooks, no fsmonitor, no
 * GIT_* from the environment), and only for a label that is a plain word: the API's answer
 * names the ref namespace and the record's file here.
 */
import type { Context } from '../context.js';
import { REMOTE_PREFIX } from '../git-import/bundle.js';
import { localGitDir } from '../git-import/come-home.js';
import { git } from '../git-import/git.js';
import { refNameProblem } from '../git-import/refs.js';
import { loadRecord } from './store.js';

/** A label that can name a record file and a ref namespace (as `parseLabel` accepts). */
const PLAIN_LABEL = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;

/** The branch names (`main`, `feature/x`) of `label` in its local directory's repository; [] when none, no record or no repository. */
export async function branchesHome(ctx: Context, label: string): Promise<string[]> {
  if (!PLAIN_LABEL.test(label)) return [];
  const namespace = `${REMOTE_PREFIX}/${label}/`;
  if (refNameProblem(`${namespace}x`)) return [];
  const record = loadRecord(ctx, label);
  const gitDir = record ? localGitDir(record.localDir) : null;
  if (!gitDir) return [];
  const listed = await git(['for-each-ref', '--format=%(refname)', namespace], { gitDir, env: ctx.env });
  if (listed.code !== 0) return [];
  return listed.stdout
    .split('\n')
    .filter((name) => name.startsWith(namespace))
    .map((name) => name.slice(namespace.length))
    .sort();
}
