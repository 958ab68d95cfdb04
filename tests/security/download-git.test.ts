/**
 * SECURITY case 52 (issue 21, item 1): nothing of the session's git runs on the laptop after
 * `catty download`. Snapshots carry a real history (tests/helpers/git-archive.ts: two branches,
 * two tags, packed and loose objects, an uncommitted edit) plus what a hostile agent adds — config
 * keys that name programs, hooks, includes, a filter and diff driver with the `.gitattributes`
 * that names them, alternates and a symlinked `.git/objects` pointing at a repository on the
 * laptop, refs named to escape, embedded repositories, objects that fail `git fsck`. The built
 * `catty` downloads each (served by the storage stub of tests/helpers/download-harness.ts); then
 * the commands a user runs (`git status`, `diff`, `log` through a pager on a terminal,
 * `checkout`, `commit`, `fetch`) run in the result and no marker file may appear. The history
 * must be there (commits, branches, tags, HEAD, the agent's uncommitted edit as unstaged) and
 * `git fsck --strict` clean — or, when it cannot be imported, no `.git` at all and the files.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DOWNLOAD_LABEL, useDownloadHarness } from '../helpers/download-harness.js';
import { loginTo } from '../helpers/cli-fake-api.js';
import { cliEnv } from '../helpers/cli.js';
import { runCatty } from '../e2e/harness.js';
import { cleanGitEnv, cleanGitHome, entryText, gitIn, makeAgentRepo, treeEntries, withFiles, type AgentRepo } from '../helpers/git-archive.js';
import { tarGz, type TarEntry } from '../helpers/tar-raw.js';
import { tempDir } from '../helpers/temp-dir.js';

const h = useDownloadHarness();

let repo: AgentRepo;
let base: TarEntry[];
let marks: string;
let gitEnv: NodeJS.ProcessEnv;

beforeAll(() => {
  repo = makeAgentRepo();
  base = treeEntries(repo.dir);
  // Defaults that do nothing, so only a config in the download could name a program.
  gitEnv = cleanGitEnv(cleanGitHome(), { EDITOR: 'true', VISUAL: 'true', PAGER: 'cat' });
});

// A marker directory per test, so each test's evidence is its own.
beforeEach(() => {
  marks = tempDir('marks');
});

/** A shell command that leaves a marker named `name` (its arguments, if any, commented out). */
const mark = (name: string) => `touch ${marks}/${name} #`;
const hook = (name: string) => ({ body: `#!/bin/sh\ntouch ${marks}/${name}\n`, mode: 0o755 });
const withConfig = (extra: string, files: Record<string, string | TarEntry> = {}) =>
  withFiles(base, { '.git/config': entryText(base, '.git/config') + extra, ...files });

async function download(entries: TarEntry[]): Promise<{ code: number; stderr: string; cwd: string; dest: string }> {
  h.serve(tarGz(entries));
  const home = tempDir('dl');
  const cwd = tempDir('dl-cwd');
  loginTo(home, h.api);
  const result = await runCatty(['download', DOWNLOAD_LABEL], { cwd, env: cliEnv(home, { CATTY_API_URL: h.api.url }) });
  return { code: result.code, stderr: result.stderr, cwd, dest: path.join(cwd, DOWNLOAD_LABEL) };
}

/**
 * What a user does in a downloaded directory (and a git-aware prompt on `cd`); it leaves the
 * state as it was (the checkouts go to a branch and back; the commit is aborted by an empty
 * message), so the history can be checked after it.
 */
function exerciseGit(dir: string): void {
  const run = (...args: string[]) => gitIn(dir, args, gitEnv);
  run('status');
  run('diff');
  run('diff', 'HEAD');
  run('log', '--all', '-p', '--oneline');
  // A pager only runs on a terminal: util-linux `script` gives git one.
  for (const command of ['git log --all', 'git branch']) spawnSync('script', ['-qec', command, '/dev/null'], { cwd: dir, env: gitEnv, stdio: 'ignore', timeout: 30_000 });
  run('checkout', 'feature');
  run('checkout', 'main');
  run('commit', '--allow-empty');
  run('fetch', 'origin');
  run('status');
}

function markers(): string[] {
  return fs.readdirSync(marks);
}

/** The agent's history and state, as git on the laptop sees them in `dest`. */
function expectHistory(dest: string): void {
  const git = (...args: string[]) => {
    const r = gitIn(dest, args, gitEnv);
    expect(r.code, `git ${args.join(' ')}: ${r.stderr}`).toBe(0);
    return r.stdout;
  };
  expect(git('rev-parse', 'main').trim()).toBe(repo.main);
  expect(git('rev-parse', 'feature').trim()).toBe(repo.feature);
  expect(git('log', '--format=%s', 'main').trim().split('\n')).toEqual(repo.mainMessages);
  expect(git('log', '-1', '--format=%s %an', 'feature').trim()).toBe(`${repo.featureMessage} Agent`);
  expect(git('tag').trim().split('\n')).toEqual(['light', 'v1.0']);
  expect(git('cat-file', '-t', 'v1.0').trim()).toBe('tag');
  expect(git('symbolic-ref', 'HEAD').trim()).toBe('refs/heads/main');
  const status = git('status', '--porcelain').split('\n').filter(Boolean);
  expect(status).toContain(' M app.txt');
  expect(status).toContain('?? notes.txt');
  expect(status.filter((line) => !line.startsWith('??'))).toEqual([' M app.txt']);
  expect(git('fsck', '--strict', '--no-dangling').trim()).toBe('');
}

describe('52: catty download rebuilds the history from objects and refs; nothing of the session\'s git runs here', () => {
  it('52: an ordinary snapshot: commits, branches, tags, HEAD and the uncommitted edit are there, fsck clean', async () => {
    const result = await download(base);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain('Rebuilt the git history here from its objects and refs: 2 branches, 2 tags, HEAD on main');
    expectHistory(result.dest);
    // The session's own files, never copied: made here.
    expect(fs.existsSync(path.join(result.dest, '.git/hooks/post-checkout'))).toBe(false);
    expect(fs.readFileSync(path.join(result.dest, '.git/config'), 'utf8')).not.toContain('session');
    expect(fs.readdirSync(result.cwd)).toEqual([DOWNLOAD_LABEL]);
  });

  it.each<[string, () => TarEntry[]]>([
    ['core.fsmonitor', () => withConfig(`[core]\n\tfsmonitor = ${mark('fsmonitor')}\n`)],
    ['a hook in .git/hooks', () => withFiles(base, { '.git/hooks/post-checkout': { name: '', ...hook('hook') }, '.git/hooks/pre-commit': { name: '', ...hook('pre-commit') } })],
    ['core.hooksPath and a hook there', () => withConfig('[core]\n\thooksPath = evil-hooks\n', { 'evil-hooks/post-checkout': { name: '', ...hook('hooks-path') } })],
    ['core.sshCommand with an ssh remote', () => withConfig(`[core]\n\tsshCommand = ${mark('ssh')}\n[remote "origin"]\n\turl = ssh://git.invalid/x\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n`)],
    ['core.pager', () => withConfig(`[core]\n\tpager = ${mark('pager')}\n`)],
    ['core.editor', () => withConfig(`[core]\n\teditor = ${mark('editor')}\n`)],
    ['diff.external', () => withConfig(`[diff]\n\texternal = ${mark('diff-external')}\n`)],
    ['include.path to a file of the workspace', () => withConfig('[include]\n\tpath = ../evil.cfg\n', { 'evil.cfg': `[core]\n\tfsmonitor = ${mark('include')}\n` })],
    ['includeIf to a file of the workspace', () => withConfig('[includeIf "gitdir:/"]\n\tpath = ../evil-if.cfg\n', { 'evil-if.cfg': `[core]\n\tfsmonitor = ${mark('include-if')}\n\tpager = ${mark('include-if-pager')}\n` })],
    [
      'a filter and a diff driver in config, named by .gitattributes',
      () =>
        withConfig(
          `[filter "evil"]\n\tclean = touch ${marks}/clean; cat\n\tsmudge = touch ${marks}/smudge; cat\n\trequired = true\n` +
            `[diff "evil"]\n\tcommand = ${mark('diff-driver')}\n\ttextconv = touch ${marks}/textconv; cat\n`,
          { '.gitattributes': '* filter=evil diff=evil\n', 'src/.gitattributes': '*.txt filter=evil diff=evil\n' },
        ),
    ],
  ])('52: %s runs nothing on git status/diff/log/checkout/commit/fetch; the history is there', async (_what, entries) => {
    const result = await download(entries());
    expect(result.code, result.stderr).toBe(0);
    exerciseGit(result.dest);
    expect(markers()).toEqual([]);
    expectHistory(result.dest);
    expect(fs.readFileSync(path.join(result.dest, '.git/config'), 'utf8')).not.toMatch(/fsmonitor|hooksPath|sshCommand|pager|editor|external|include|filter|evil/);
  });

  it('52: alternates pointing at a repository on the laptop are ignored: none of its objects is lent, its refs are left out', async () => {
    const laptop = makeAgentRepo();
    fs.writeFileSync(path.join(laptop.dir, 'secret.txt'), 'laptop secret\n');
    gitIn(laptop.dir, ['add', 'secret.txt'], gitEnv);
    gitIn(laptop.dir, ['-c', 'core.hooksPath=/dev/null', 'commit', '-q', '-m', 'laptop secret commit'], gitEnv);
    const secret = gitIn(laptop.dir, ['rev-parse', 'HEAD'], gitEnv).stdout.trim();
    const result = await download(
      withFiles(base, {
        '.git/objects/info/alternates': `${path.join(laptop.dir, '.git/objects')}\n`,
        '.git/refs/heads/laptop': `${secret}\n`,
      }),
    );
    expect(result.code, result.stderr).toBe(0);
    expect(gitIn(result.dest, ['log', '--all', '--format=%s'], gitEnv).stdout).not.toContain('laptop secret');
    expect(gitIn(result.dest, ['cat-file', '-e', secret], gitEnv).code).not.toBe(0);
    expect(result.stderr).toMatch(/^ {4}refs\/heads\/laptop {2}\(its object is not in the snapshot\)$/m);
    expect(result.stderr).toContain('Note: ignored objects/info/alternates');
    expect(fs.existsSync(path.join(result.dest, '.git/objects/info/alternates'))).toBe(false);
    expectHistory(result.dest);
  });

  it('52: a symlinked .git/objects (to a repository on the laptop) is never followed: no history, no .git, the files are there, the top directory not a repository', async () => {
    const laptop = makeAgentRepo();
    const laptopObjects = path.join(laptop.dir, '.git/objects');
    const listing = () => fs.readdirSync(laptopObjects, { recursive: true }).sort();
    const before = listing();
    // And the top directory shaped as a repository of its own, for when there is no .git.
    const entries = withFiles(base, {
      '.git/objects': null,
      HEAD: 'ref: refs/heads/main\n',
      'objects/.keep': '',
      'refs/.keep': '',
      config: `[core]\n\tpager = ${mark('top')}\n`,
    });
    entries.push({ name: '.git/objects', type: '2', linkname: laptopObjects });
    const result = await download(entries);
    expect(result.code, result.stderr).toBe(0);
    exerciseGit(result.dest);
    expect(markers()).toEqual([]);
    expect(result.stderr).toContain('    HEAD (the top directory\'s: beside objects/ or refs/, git would take the directory for a repository)');
    expect(fs.existsSync(path.join(result.dest, 'HEAD'))).toBe(false);
    expect(result.stderr).toMatch(/The git history could not be imported \(none of its 4 refs could be imported: .*not in the snapshot\)/);
    expect(fs.existsSync(path.join(result.dest, '.git'))).toBe(false);
    expect(fs.readFileSync(path.join(result.dest, 'app.txt'), 'utf8')).toBe('one\ntwo\nuncommitted\n');
    expect(fs.readFileSync(path.join(result.dest, 'notes.txt'), 'utf8')).toBe('untracked notes\n');
    expect(gitIn(result.dest, ['status'], gitEnv).stderr).toContain('not a git repository');
    expect(listing()).toEqual(before);
  });

  it('52: refs named to escape or that git refuses are left out and listed; nothing is written outside', async () => {
    const packed = entryText(base, '.git/packed-refs');
    const bad = ['refs/heads/../../x', 'refs/heads/a..b', 'refs/heads/x.lock', 'refs/heads/.hidden', 'refs/heads/sp ace', 'refs/remotes/origin/main', 'refs/heads/feature/deeper'];
    const result = await download(
      withFiles(base, {
        '.git/packed-refs': packed + bad.map((name) => `${repo.main} ${name}\n`).join(''),
        '.git/refs/heads/sym': 'ref: ../../../../etc/passwd\n',
        '.git/refs/heads/blob-branch': `${gitIn(repo.dir, ['rev-parse', 'main:app.txt'], gitEnv).stdout.trim()}\n`,
      }),
    );
    expect(result.code, result.stderr).toBe(0);
    for (const name of bad) expect(result.stderr, name).toContain(`    ${name}  (`);
    expect(result.stderr).toContain('    refs/heads/../../x  (a sequence git refuses in ref names)');
    expect(result.stderr).toContain('    refs/remotes/origin/main  (only branches and tags are imported)');
    expect(result.stderr).toContain('    refs/heads/feature/deeper  (refs/heads/feature is a ref, not a directory)');
    expect(result.stderr).toContain('    refs/heads/sym  (not an object id');
    expect(result.stderr).toContain('    refs/heads/blob-branch  (a branch must name a commit, not a blob)');
    expect(gitIn(result.dest, ['for-each-ref', '--format=%(refname)'], gitEnv).stdout.trim().split('\n')).toEqual(['refs/heads/feature', 'refs/heads/main', 'refs/tags/light', 'refs/tags/v1.0']);
    for (const escaped of [path.join(result.cwd, 'x'), path.join(result.dest, 'x'), path.join(result.dest, '.git/x'), path.join(result.dest, '.git/refs/x')]) expect(fs.existsSync(escaped), escaped).toBe(false);
    expectHistory(result.dest);
  });

  it('52: objects that fail git fsck (a tree entry named .GIT, a loose object under another id) leave no .git; the files are there', async () => {
    const evil = makeAgentRepo();
    const blob = gitWithInput(evil.dir, ['rev-parse', 'main:app.txt'], '');
    const dotGitTree = gitWithInput(evil.dir, ['mktree'], `100644 blob ${blob}\t.GIT\n`);
    const commit = gitWithInput(evil.dir, ['commit-tree', '-p', 'main', '-m', 'tree with .GIT', dotGitTree], '');
    gitWithInput(evil.dir, ['update-ref', 'refs/heads/evil', commit], '');
    const result = await download(treeEntries(evil.dir));
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/The git history could not be imported \(git fsck found problems: .*hasDotgit/);
    expect(fs.existsSync(path.join(result.dest, '.git'))).toBe(false);
    expect(fs.readFileSync(path.join(result.dest, 'app.txt'), 'utf8')).toBe('one\ntwo\nuncommitted\n');

    // A loose object whose content is another object's: its name is not its hash.
    const loose = base.filter((e) => /^\.git\/objects\/[0-9a-f]{2}\/[0-9a-f]{38}$/.test(e.name));
    expect(loose.length).toBeGreaterThan(1);
    const swapped = withFiles(base, { [loose[0]!.name]: loose[1]!.body as Buffer });
    const second = await download(swapped);
    expect(second.code, second.stderr).toBe(0);
    // Found by fsck, or earlier by update-ref when a ref names it: either way, no repository.
    expect(second.stderr).toMatch(/The git history could not be imported \(.*hash(-path)? mismatch/);
    expect(fs.existsSync(path.join(second.dest, '.git'))).toBe(false);
  });

  it('52: embedded repositories (vendor/lib/.git, a bare-shaped directory, a gitdir: file) are not extracted, and listed', async () => {
    const nested = makeAgentRepo();
    const nestedEntries = withFiles(treeEntries(nested.dir), { '.git/config': `[core]\n\tfsmonitor = ${mark('nested')}\n\tpager = ${mark('nested-pager')}\n` });
    const entries: TarEntry[] = [...base, { name: 'vendor/', type: '5' }, { name: 'vendor/lib/', type: '5' }, ...nestedEntries.map((e) => ({ ...e, name: `vendor/lib/${e.name}` }))];
    const hostile = withFiles(entries, {
      'vendor/store/HEAD': 'ref: refs/heads/main\n',
      'vendor/store/objects': { name: '', type: '5' },
      'vendor/store/refs': { name: '', type: '5' },
      'vendor/store/config': `[core]\n\tbare = false\n\tworktree = ..\n\tfsmonitor = ${mark('bare')}\n`,
      'vendor/linked/.git': 'gitdir: ../store\n',
      'vendor/linked/code.txt': 'kept\n',
      'vendor/other/.Git/HEAD': 'ref: refs/heads/main\n',
      'vendor/other/.Git/config': `[core]\n\tfsmonitor = ${mark('case')}\n`,
    });
    const result = await download(hostile);
    expect(result.code, result.stderr).toBe(0);
    for (const dir of ['vendor/lib', 'vendor/lib/src', 'vendor/linked', 'vendor/other', 'vendor/store', 'vendor']) exerciseGit(path.join(result.dest, dir));
    expect(markers()).toEqual([]);
    expect(result.stderr).toMatch(/Left out 4 embedded repositories \(git here would use their config and hooks\):/);
    for (const rel of ['vendor/lib/.git', 'vendor/linked/.git', 'vendor/other/.Git', 'vendor/store/']) expect(result.stderr).toContain(`    ${rel}\n`);
    expect(fs.existsSync(path.join(result.dest, 'vendor/lib/.git'))).toBe(false);
    expect(fs.existsSync(path.join(result.dest, 'vendor/store'))).toBe(false);
    expect(fs.existsSync(path.join(result.dest, 'vendor/linked/.git'))).toBe(false);
    expect(fs.readFileSync(path.join(result.dest, 'vendor/lib/app.txt'), 'utf8')).toBe('one\ntwo\nuncommitted\n');
    expect(fs.readFileSync(path.join(result.dest, 'vendor/linked/code.txt'), 'utf8')).toBe('kept\n');
    expectHistory(result.dest);
  });
});

/** Runs git in `cwd` with `input` on stdin; its trimmed output. */
function gitWithInput(cwd: string, args: string[], input: string): string {
  const r = spawnSync('git', ['-c', 'core.hooksPath=/dev/null', ...args], { cwd, env: gitEnv, input, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
}
