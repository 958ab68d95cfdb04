/**
 * Snapshot archives with a real git history in them, as a hostile session would hand them over:
 * a repository made by git here (commits on two branches, an annotated and a lightweight tag,
 * objects both packed and loose, an uncommitted edit and an untracked file), turned into tar
 * entries byte for byte (tests/helpers/tar-raw.ts) so a test can add or replace anything —
 * `.git/config`, hooks, alternates, packed-refs, links, embedded repositories. Also the git
 * these tests run in a downloaded directory: a clean environment (no GIT_* variables, its own
 * HOME and global config, no system config), so only what is in that directory can act.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { TarEntry } from './tar-raw.js';
import { tempDir } from './temp-dir.js';

/** A HOME with a global config giving an identity and nothing else. */
export function cleanGitHome(): string {
  const home = tempDir('git-home');
  fs.writeFileSync(path.join(home, '.gitconfig'), '[user]\n\tname = Laptop User\n\temail = user@laptop.test\n[init]\n\tdefaultBranch = trunk\n');
  return home;
}

export function cleanGitEnv(home: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: home, GIT_CONFIG_NOSYSTEM: '1', GIT_CEILING_DIRECTORIES: path.dirname(home), LANG: 'C', ...extra };
}

export interface GitRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs git in `cwd` with the clean environment (no terminal). */
export function gitIn(cwd: string, args: string[], env: NodeJS.ProcessEnv): GitRun {
  const result = spawnSync('git', args, { cwd, env, encoding: 'utf8', timeout: 30_000 });
  return { code: result.status ?? 255, stdout: result.stdout ?? '', stderr: result.stderr ?? '' };
}

/** The ids and names a test checks the downloaded history against. */
export interface AgentRepo {
  dir: string;
  main: string;
  feature: string;
  /** Commit messages of main, newest first, and of feature's own commit. */
  mainMessages: string[];
  featureMessage: string;
}

/**
 * A repository as an agent would leave it: three commits on main (the first two packed, the
 * third loose; refs both in packed-refs and loose), one on `feature`, tags `v1.0` (annotated) and `light`, HEAD on main, `app.txt`
 * edited but not committed, `notes.txt` untracked.
 */
export function makeAgentRepo(): AgentRepo {
  const home = cleanGitHome();
  const dir = tempDir('agent-repo');
  const env = cleanGitEnv(home, { GIT_AUTHOR_NAME: 'Agent', GIT_AUTHOR_EMAIL: 'agent@session.test', GIT_COMMITTER_NAME: 'Agent', GIT_COMMITTER_EMAIL: 'agent@session.test' });
  const git = (...args: string[]) => {
    const r = gitIn(dir, ['-c', 'core.hooksPath=/dev/null', ...args], env);
    if (r.code !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
    return r.stdout.trim();
  };
  const write = (rel: string, text: string) => {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), text);
  };
  git('init', '-q', '-b', 'main');
  write('app.txt', 'one\n');
  write('src/lib.txt', 'lib\n');
  git('add', '.');
  git('commit', '-q', '-m', 'agent: first commit');
  write('app.txt', 'one\ntwo\n');
  git('commit', '-q', '-am', 'agent: second commit');
  git('tag', '-a', 'v1.0', '-m', 'release one');
  git('repack', '-adq');
  git('pack-refs', '--all');
  git('checkout', '-q', '-b', 'feature');
  write('feature.txt', 'feature\n');
  git('add', 'feature.txt');
  git('commit', '-q', '-m', 'agent: feature work');
  git('checkout', '-q', 'main');
  write('src/lib.txt', 'lib v3\n');
  git('commit', '-q', '-am', 'agent: third commit');
  git('tag', 'light');
  write('app.txt', 'one\ntwo\nuncommitted\n');
  write('notes.txt', 'untracked notes\n');
  return {
    dir,
    main: git('rev-parse', 'main'),
    feature: git('rev-parse', 'feature'),
    mainMessages: ['agent: third commit', 'agent: second commit', 'agent: first commit'],
    featureMessage: 'agent: feature work',
  };
}

/** Every entry under `dir` (directories, files with their bytes and exec bit, symlinks), sorted. */
export function treeEntries(dir: string, prefix = ''): TarEntry[] {
  const entries: TarEntry[] = [];
  for (const name of fs.readdirSync(path.join(dir, prefix)).sort()) {
    const rel = prefix ? `${prefix}/${name}` : name;
    const abs = path.join(dir, rel);
    const stat = fs.lstatSync(abs);
    if (stat.isSymbolicLink()) entries.push({ name: rel, type: '2', linkname: fs.readlinkSync(abs) });
    else if (stat.isDirectory()) entries.push({ name: `${rel}/`, type: '5' }, ...treeEntries(dir, rel));
    else entries.push({ name: rel, body: fs.readFileSync(abs), mode: stat.mode & 0o100 ? 0o755 : 0o644 });
  }
  return entries;
}

/**
 * `entries` with files replaced or added (`null` removes an entry and everything under it);
 * directories a new file needs are added.
 */
export function withFiles(entries: TarEntry[], changes: Record<string, string | Buffer | TarEntry | null>): TarEntry[] {
  let out = [...entries];
  for (const [name, change] of Object.entries(changes)) {
    out = out.filter((e) => e.name.replace(/\/$/, '') !== name && !e.name.startsWith(`${name}/`));
    if (change === null) continue;
    const parts = name.split('/');
    for (let depth = 1; depth < parts.length; depth++) {
      const dir = `${parts.slice(0, depth).join('/')}/`;
      if (!out.some((e) => e.name === dir)) out.push({ name: dir, type: '5' });
    }
    out.push(typeof change === 'string' || Buffer.isBuffer(change) ? { name, body: change } : { ...change, name });
  }
  return out;
}

/** The text of `rel` in `entries` (to append to a file such as `.git/config`). */
export function entryText(entries: TarEntry[], rel: string): string {
  const entry = entries.find((e) => e.name === rel);
  if (!entry) throw new Error(`no entry ${rel}`);
  return entry.body?.toString() ?? '';
}
