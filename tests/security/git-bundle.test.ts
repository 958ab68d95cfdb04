/**
 * SECURITY case 59 (issue 23, item 1): the agent's commits come home as
 * `refs/remotes/catty/<label>/<branch>` and a hostile runtime's git bundle changes nothing of the
 * user's repository. The built `catty git <label>` against a fake API and a fake runtime that
 * answers `GET /git-bundle` (session-runtime/wire/protocol.ts "Git") with bundles made here by
 * real git: an honest one (two commits on main, a new branch), then a tree entry `.git`, one
 * `..`, a commit failing fsck, an oversized bundle (declared and streamed), one with missing
 * prerequisites, ref names that try to leave the namespace. For each hostile one: refused with
 * a reason, the user's refs, index, objects and files exactly as before.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FakeApi, loginTo } from '../helpers/cli-fake-api.js';
import { cliEnv } from '../helpers/cli.js';
import { closeServer, listenLoopback } from '../helpers/loopback.js';
import { cleanGitEnv, cleanGitHome, gitIn } from '../helpers/git-archive.js';
import { tempDir } from '../helpers/temp-dir.js';
import { runCatty } from '../e2e/harness.js';

const LABEL = 'brave-otter-0059';
const TOKEN = 'connect-token-59';

let api: FakeApi;
let runtime: http.Server;
let runtimeUrl: string;
/** What the fake runtime answers next: the bundle's bytes, chunked (no Content-Length) or not. */
let answer: { body: Buffer; chunked?: boolean; status?: number } = { body: Buffer.alloc(0) };
let gitEnv: NodeJS.ProcessEnv;

beforeAll(async () => {
  gitEnv = cleanGitEnv(cleanGitHome(), { GIT_AUTHOR_DATE: '2026-01-01T00:00:00Z', GIT_COMMITTER_DATE: '2026-01-01T00:00:00Z' });
  runtime = http.createServer((req, res) => {
    if (req.url?.split('?')[0] !== '/git-bundle' || req.headers.authorization !== `Bearer ${TOKEN}`) return void res.writeHead(404).end();
    const headers: http.OutgoingHttpHeaders = { 'content-type': 'application/x-git-bundle' };
    if (!answer.chunked) headers['content-length'] = answer.body.length;
    res.writeHead(answer.status ?? 200, headers);
    res.end(answer.body);
  });
  runtimeUrl = (await listenLoopback(runtime)).url;
  api = await FakeApi.start({ connectUrl: runtimeUrl, connectToken: TOKEN });
  api.addSession({ label: LABEL });
});

afterAll(async () => {
  await closeServer(runtime);
  await api.close();
});

const git = (cwd: string, ...args: string[]) => {
  const r = gitIn(cwd, args, gitEnv);
  if (r.code !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
};
const commit = (cwd: string, file: string, content: string, message: string, author = 'Agent Smith <agent@session.example>') => {
  fs.writeFileSync(path.join(cwd, file), content);
  git(cwd, 'add', file);
  git(cwd, '-c', 'user.name=x', '-c', 'user.email=x@x', 'commit', '-q', '-m', message, `--author=${author}`);
  return git(cwd, 'rev-parse', 'HEAD');
};

interface Setup {
  home: string;
  user: string;
  agent: string;
}

/** The user's project (main, a branch named `catty`, a staged edit, an untracked file) and the agent's clone of it. */
function setup(): Setup {
  const root = tempDir('git59');
  const home = path.join(root, 'home');
  const user = path.join(root, 'project');
  const agent = path.join(root, 'agent');
  fs.mkdirSync(path.join(home, 'sessions'), { recursive: true, mode: 0o700 });
  fs.writeFileSync(path.join(home, 'sessions', `${LABEL}.json`), JSON.stringify({ label: LABEL, id: `id-${LABEL}`, apiUrl: api.url, localDir: user, createdAt: new Date().toISOString() }));
  loginTo(home, api);
  fs.mkdirSync(user);
  git(user, 'init', '-q', '-b', 'main');
  commit(user, 'README.md', '# project\n', 'initial', 'User <user@laptop.example>');
  git(user, 'branch', 'catty');
  git(root, 'clone', '-q', user, agent);
  fs.writeFileSync(path.join(user, 'README.md'), '# project, staged edit\n');
  git(user, 'add', 'README.md');
  fs.writeFileSync(path.join(user, 'untracked.txt'), 'mine\n');
  return { home, user, agent };
}

/** Everything of the user's repository a bundle must not change. */
function userState(user: string): string {
  const objects: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) walk(path.join(dir, e.name));
      else objects.push(path.relative(user, path.join(dir, e.name)));
    }
  };
  walk(path.join(user, '.git/objects'));
  const hash = (f: string) => crypto.createHash('sha256').update(fs.readFileSync(path.join(user, f))).digest('hex');
  return JSON.stringify({
    refs: git(user, 'for-each-ref', '--format=%(refname) %(objectname)'),
    head: fs.readFileSync(path.join(user, '.git/HEAD'), 'utf8'),
    index: hash('.git/index'),
    config: hash('.git/config'),
    status: git(user, 'status', '--porcelain'),
    untracked: fs.readFileSync(path.join(user, 'untracked.txt'), 'utf8'),
    objects: objects.sort(),
  });
}

function bundleOf(repo: string, ...revs: string[]): Buffer {
  const file = path.join(repo, '..', `b-${crypto.randomBytes(4).toString('hex')}.bundle`);
  git(repo, 'bundle', 'create', '-q', file, ...revs);
  return fs.readFileSync(file);
}

/** A commit on the agent's main whose tree holds `entry` (a raw tree, as git would never make). */
function treeWithEntry(agent: string, entry: string): void {
  const blob = git(agent, 'hash-object', '-w', 'README.md');
  const raw = Buffer.concat([Buffer.from(`100644 ${entry}\0`), Buffer.from(blob, 'hex')]);
  const treeFile = path.join(agent, '..', 'raw-tree');
  fs.writeFileSync(treeFile, raw);
  const tree = git(agent, 'hash-object', '-w', '-t', 'tree', '--literally', treeFile);
  const c = git(agent, '-c', 'user.name=a', '-c', 'user.email=a@a', 'commit-tree', tree, '-p', 'HEAD', '-m', `tree with ${entry}`);
  git(agent, 'update-ref', 'refs/heads/main', c);
}

async function catGit(s: Setup, extra: NodeJS.ProcessEnv = {}) {
  return runCatty(['git', LABEL], { cwd: s.user, env: cliEnv(s.home, { CATTY_API_URL: api.url, ...extra }) });
}

async function expectRefused(s: Setup, body: Buffer, reason: RegExp, options: { chunked?: boolean; env?: NodeJS.ProcessEnv } = {}): Promise<void> {
  const before = userState(s.user);
  answer = { body, chunked: options.chunked };
  const result = await catGit(s, options.env);
  expect(result.stderr).toMatch(reason);
  expect(result.code).toBe(1);
  expect(userState(s.user)).toBe(before);
  expect(git(s.user, 'for-each-ref', 'refs/remotes/catty')).toBe('');
}

let s: Setup;
beforeEach(() => {
  s = setup();
});

describe('case 59: the agent\'s commits come home, and nothing else', () => {
  it('brings two commits on main and a new branch as catty/<label>/*, touching nothing of the user\'s', async () => {
    const before = JSON.parse(userState(s.user)) as Record<string, unknown>;
    const first = commit(s.agent, 'a.txt', 'one\n', 'agent: first');
    const second = commit(s.agent, 'b.txt', 'two\n', 'agent: second');
    git(s.agent, 'checkout', '-q', '-b', 'agent/feature');
    const third = commit(s.agent, 'c.txt', 'three\n', 'agent: on a new branch');
    answer = { body: bundleOf(s.agent, '--branches') };
    const result = await catGit(s);
    expect(result.stderr).toContain(`catty/${LABEL}/main`);
    expect(result.code, result.stderr).toBe(0);
    expect(git(s.user, 'log', '--format=%H %an <%ae> %s', `catty/${LABEL}/main`).split('\n').slice(0, 2)).toEqual([
      `${second} Agent Smith <agent@session.example> agent: second`,
      `${first} Agent Smith <agent@session.example> agent: first`,
    ]);
    expect(git(s.user, 'log', '-1', '--format=%H %s', `catty/${LABEL}/agent/feature`)).toBe(`${third} agent: on a new branch`);
    // The user's branch `main` and their branch named `catty` are where they were; HEAD, index,
    // config, the staged edit and the untracked file too. Only objects were added.
    const after = JSON.parse(userState(s.user)) as Record<string, unknown>;
    for (const key of ['head', 'index', 'config', 'status', 'untracked']) expect(after[key], key).toEqual(before[key]);
    expect(git(s.user, 'for-each-ref', '--format=%(refname)', 'refs/heads')).toBe('refs/heads/catty\nrefs/heads/main');
    expect(git(s.user, 'rev-parse', 'main')).toBe(git(s.user, 'rev-parse', 'catty'));
    expect(git(s.user, 'fsck', '--strict', '--no-dangling')).toBe('');

    // Next time: a deleted branch goes, a moved one follows.
    git(s.agent, 'checkout', '-q', 'main');
    git(s.agent, 'branch', '-q', '-D', 'agent/feature');
    const fourth = commit(s.agent, 'd.txt', 'four\n', 'agent: fourth');
    answer = { body: bundleOf(s.agent, '--branches') };
    expect((await catGit(s)).code).toBe(0);
    expect(git(s.user, 'for-each-ref', '--format=%(refname) %(objectname)', 'refs/remotes/catty')).toBe(`refs/remotes/catty/${LABEL}/main ${fourth}`);
  });

  it('a branch named like the user\'s lands under the remote namespace; names that try to leave it are refused', async () => {
    const agentMain = commit(s.agent, 'a.txt', 'x\n', 'agent: on main');
    const userMain = git(s.user, 'rev-parse', 'main');
    const good = bundleOf(s.agent, '--branches');
    answer = { body: good };
    expect((await catGit(s)).code).toBe(0);
    expect(git(s.user, 'rev-parse', 'main')).toBe(userMain);
    expect(git(s.user, 'rev-parse', `refs/remotes/catty/${LABEL}/main`)).toBe(agentMain);

    // Same pack, ref lines renamed: only the names change, so the pack stays valid.
    const s2 = setup();
    const renamed = (name: string) => Buffer.from(good.toString('latin1').replace(`${agentMain} refs/heads/main\n`, `${agentMain} ${name}\n`), 'latin1');
    for (const name of ['refs/heads/../../heads/main', 'refs/heads/main\u0000x', 'HEAD', 'refs/remotes/origin/main', 'refs/tags/v1']) {
      await expectRefused(s2, renamed(name), /refused the session's git bundle.*(none of its branches|no branches)/);
    }
  });

  it('refuses a tree entry named .git', async () => {
    treeWithEntry(s.agent, '.git');
    await expectRefused(s, bundleOf(s.agent, '--branches'), /refused the session's git bundle: the bundle failed git's checks.*dotgit/i);
  });

  it('refuses a tree entry named ..', async () => {
    treeWithEntry(s.agent, '..');
    await expectRefused(s, bundleOf(s.agent, '--branches'), /refused the session's git bundle: the bundle failed git's checks.*dotdot/i);
  });

  it('refuses an object that fails fsck (a commit without an author name)', async () => {
    const tree = git(s.agent, 'rev-parse', 'HEAD^{tree}');
    const parent = git(s.agent, 'rev-parse', 'HEAD');
    const raw = `tree ${tree}\nparent ${parent}\nauthor <a@a> 1700000000 +0000\ncommitter <a@a> 1700000000 +0000\n\nbroken\n`;
    const file = path.join(s.agent, '..', 'raw-commit');
    fs.writeFileSync(file, raw);
    const bad = git(s.agent, 'hash-object', '-w', '-t', 'commit', '--literally', file);
    git(s.agent, 'update-ref', 'refs/heads/main', bad);
    await expectRefused(s, bundleOf(s.agent, '--branches'), /refused the session's git bundle: the bundle failed git's checks/);
  });

  it('refuses a bundle over the cap, declared or streamed, before reading it all', async () => {
    fs.writeFileSync(path.join(s.agent, 'big.bin'), crypto.randomBytes(3 * 1024 * 1024));
    git(s.agent, 'add', 'big.bin');
    git(s.agent, '-c', 'user.name=a', '-c', 'user.email=a@a', 'commit', '-q', '-m', 'big');
    const big = bundleOf(s.agent, '--branches');
    const env = { CATTY_MAX_GIT_BUNDLE_MB: '1' };
    await expectRefused(s, big, /larger than the 1 MiB cap/, { env });
    await expectRefused(s, big, /larger than the 1 MiB cap/, { env, chunked: true });
  });

  it('refuses a bundle with missing prerequisites', async () => {
    commit(s.agent, 'a.txt', 'one\n', 'agent: first');
    commit(s.agent, 'b.txt', 'two\n', 'agent: second');
    await expectRefused(s, bundleOf(s.agent, 'main~1..main'), /does not contain \(prerequisites/);
  });

  it('says so in one line, exit 0, when the session has no repository or no commits', async () => {
    for (const [code, expected] of [['no_git', /no git repository/], ['no_branches', /no commits yet/]] as const) {
      answer = { status: code === 'no_git' ? 404 : 409, body: Buffer.from(JSON.stringify({ error: { code, message: 'x' } })) };
      const before = userState(s.user);
      const result = await catGit(s);
      expect(result.stderr).toMatch(expected);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.code).toBe(0);
      expect(userState(s.user)).toBe(before);
    }
    fs.rmSync(path.join(s.user, '.git'), { recursive: true });
    const result = await catGit(s);
    expect(result.stderr).toMatch(/is not a git repository/);
    expect(result.code).toBe(0);
  });
});
