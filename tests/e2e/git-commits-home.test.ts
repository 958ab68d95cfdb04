/**
 * Issue 23, item 1 through the built binaries: the embedded control plane, a real sandboxed
 * session and a scripted agent that commits (two commits on main, one on a new branch). After a
 * while attached (the refs moved), after a detach, after the agent exits by itself, and on
 * `catty stop`, `git log catty/<label>/<branch>` in the project
 * shows the agent's commits with its messages and author; the user's branches, HEAD, index and
 * untracked file are as they were and `git fsck --strict` is clean. A `--no-git` session gets a
 * one-line note. Two forks of one session, each started from its own `git worktree` of the
 * project, commit different attempts on main: both land, under their own labels, side by side.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanGitEnv, cleanGitHome, gitIn } from '../helpers/git-archive.js';
import { PtyProcess } from '../helpers/pty.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait.js';
import { runCatty } from './harness.js';

const AUTHOR = 'Agent Smith <agent@session.example>';
const AGENT = `set -e
export GIT_AUTHOR_NAME="Agent Smith" GIT_AUTHOR_EMAIL=agent@session.example GIT_COMMITTER_NAME="Agent Smith" GIT_COMMITTER_EMAIL=agent@session.example
echo one > a.txt; git add a.txt; git commit -q -m "agent: first"
echo two > b.txt; git add b.txt; git commit -q -m "agent: second"
git checkout -q -b agent/feature
echo three > c.txt; git add c.txt; git commit -q -m "agent: on a new branch"
git checkout -q main
echo COMMITS DONE
if [ "$1" = stay ]; then exec sleep 600; fi
`;

// Every run commits one attempt of its own on main: a source and each fork of it differ.
const FORK_AGENT = `set -e
export GIT_AUTHOR_NAME="Agent Smith" GIT_AUTHOR_EMAIL=agent@session.example GIT_COMMITTER_NAME="Agent Smith" GIT_COMMITTER_EMAIL=agent@session.example
mark=$(od -An -N6 -tx1 /dev/urandom | tr -d ' \\n')
echo "$mark" > attempt.txt; git add attempt.txt; git commit -q -m "agent: attempt $mark"
echo "ATTEMPT=$mark"
exec sleep 600
`;

let home: string;
let project: string;
let env: NodeJS.ProcessEnv;
let gitEnv: NodeJS.ProcessEnv;

const git = (...args: string[]) => {
  const r = gitIn(project, args, gitEnv);
  if (r.code !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
};

function userState(): Record<string, string> {
  return {
    refs: git('for-each-ref', '--format=%(refname) %(objectname)', 'refs/heads'),
    head: fs.readFileSync(path.join(project, '.git/HEAD'), 'utf8'),
    index: fs.readFileSync(path.join(project, '.git/index')).toString('base64'),
    untracked: fs.readFileSync(path.join(project, 'notes.txt'), 'utf8'),
  };
}

beforeAll(() => {
  home = tempDir('home');
  project = tempDir('project');
  gitEnv = cleanGitEnv(cleanGitHome());
  env = { PATH: process.env.PATH, HOME: home, CATTY_HOME: path.join(home, '.catty'), TERM: 'xterm-256color', LANG: 'C.UTF-8' };
  git('init', '-q', '-b', 'main');
  fs.writeFileSync(path.join(project, 'README.md'), '# demo\n');
  fs.writeFileSync(path.join(project, 'agent.sh'), AGENT);
  fs.writeFileSync(path.join(project, 'fork-agent.sh'), FORK_AGENT);
  fs.writeFileSync(path.join(project, '.gitignore'), 'notes.txt\n');
  git('add', 'README.md', 'agent.sh', 'fork-agent.sh', '.gitignore');
  git('-c', 'user.name=User', '-c', 'user.email=user@laptop.example', 'commit', '-q', '-m', 'initial');
  git('branch', 'catty');
  // An untracked (ignored) file of the user's.
  fs.writeFileSync(path.join(project, 'notes.txt'), 'mine\n');
});

afterAll(async () => {
  await runCatty(['server', 'stop'], { cwd: project, env }).catch(() => undefined);
});

async function newestLabel(): Promise<string> {
  const list = await runCatty(['list', '--json'], { cwd: project, env });
  expect(list.code, list.stderr).toBe(0);
  return (JSON.parse(list.stdout) as Array<{ label: string }>)[0]?.label ?? '';
}

function expectAgentCommits(label: string): void {
  expect(git('log', '--format=%an <%ae> %s', `catty/${label}/main`).split('\n')).toEqual([`${AUTHOR} agent: second`, `${AUTHOR} agent: first`, 'User <user@laptop.example> initial']);
  expect(git('log', '-1', '--format=%an <%ae> %s', `catty/${label}/agent/feature`)).toBe(`${AUTHOR} agent: on a new branch`);
  expect(git('fsck', '--strict', '--no-dangling')).toBe('');
}

describe("the agent's commits come home", () => {
  it('after a detach, and after the agent exits', async () => {
    const before = userState();
    const first = PtyProcess.catty(['new', '--cmd', 'sh agent.sh stay'], { cwd: project, env });
    await first.waitForScreen('COMMITS DONE', 60_000);
    const label = await newestLabel();
    // While attached: the runtime sees the refs move and the CLI fetches, before any detach.
    await waitFor(() => gitIn(project, ['rev-parse', '-q', '--verify', `refs/remotes/catty/${label}/agent/feature`], gitEnv).code === 0, 'the branches to come home while attached', { timeoutMs: 20_000 });
    expect(first.output()).not.toContain(`catty/${label}/main`);
    first.write('\x1d');
    expect(await first.waitForExit(60_000)).toBe(0);
    expect(first.output()).toContain(`catty/${label}/main`);
    expectAgentCommits(label);
    expect(userState()).toEqual(before);
    await runCatty(['stop', label], { cwd: project, env });

    // The agent exits by itself: its machine waits while the branches are fetched.
    const second = PtyProcess.catty(['new', '--cmd', 'sh agent.sh'], { cwd: project, env });
    await second.waitForScreen('COMMITS DONE', 60_000);
    expect(await second.waitForExit(60_000)).toBe(0);
    const label2 = await newestLabel();
    expect(label2).not.toBe(label);
    expectAgentCommits(label2);
    expect(userState()).toEqual(before);
  }, 240_000);

  it('on catty stop of a detached session', async () => {
    const before = userState();
    const started = await runCatty(['new', '--detach', '--cmd', 'sh agent.sh stay'], { cwd: project, env });
    expect(started.code, started.stderr).toBe(0);
    const label = started.stdout.trim().split('\n').pop() ?? '';
    await waitFor(async () => (await runCatty(['logs', label], { cwd: project, env })).stdout.includes('COMMITS DONE'), 'the agent to commit', { timeoutMs: 60_000 });
    const stop = await runCatty(['stop', label], { cwd: project, env });
    expect(stop.code, stop.stderr).toBe(0);
    expect(stop.stderr).toContain(`catty/${label}/main`);
    expectAgentCommits(label);
    expect(userState()).toEqual(before);
  }, 120_000);

  it('a session uploaded with --no-git gets a one-line note', async () => {
    const session = PtyProcess.catty(['new', '--no-git', '--cmd', 'echo NO GIT HERE'], { cwd: project, env });
    await session.waitForScreen('NO GIT HERE', 60_000);
    await session.waitForExit(60_000);
    expect(session.output()).toMatch(/the session has no git repository[^\n]*--no-git/);
  }, 120_000);

  it('two forks, each in its own worktree, diverge: both branches land, side by side', async () => {
    const before = userState();
    const source = await runCatty(['new', '--detach', '--no-secrets', '--cmd', 'sh fork-agent.sh'], { cwd: project, env });
    expect(source.code, source.stderr).toBe(0);
    const label = source.stdout.trim().split('\n').pop() ?? '';
    const attemptOf = async (of: string) => /ATTEMPT=([0-9a-f]{12})/.exec((await runCatty(['logs', of], { cwd: project, env })).stdout)?.[1];
    await waitFor(async () => (await attemptOf(label)) !== undefined, 'the source to commit', { timeoutMs: 30_000 });
    // One directory per fork, as docs/usage.md advises: detached worktrees (no branch of the user's made).
    const worktree = (name: string) => {
      const dir = path.join(tempDir('worktrees'), name);
      git('worktree', 'add', '-q', '--detach', dir);
      return dir;
    };

    // try-a attached, in its worktree, then detached.
    const a = PtyProcess.catty(['fork', label, '--label', 'try-a', '--no-secrets'], { cwd: worktree('a'), env });
    await a.waitForScreen('ATTEMPT=', 30_000);
    a.write('\x1d');
    expect(await a.waitForExit(30_000)).toBe(0);
    expect(a.output()).toContain('catty/try-a/main');
    const markA = /ATTEMPT=([0-9a-f]{12})/.exec(a.output())?.[1];
    // try-b detached in its own worktree, then stopped.
    const b = await runCatty(['fork', label, '--label', 'try-b', '--detach', '--no-secrets'], { cwd: worktree('b'), env });
    expect(b.code, b.stderr).toBe(0);
    await waitFor(async () => (await attemptOf('try-b')) !== undefined, 'try-b to commit', { timeoutMs: 30_000 });
    const markB = await attemptOf('try-b');
    const stopped = await runCatty(['stop', 'try-b'], { cwd: project, env });
    expect(stopped.code, stopped.stderr).toBe(0);
    expect(stopped.stderr).toContain('catty/try-b/main');
    for (const stop of ['try-a', label]) expect((await runCatty(['stop', stop], { cwd: project, env })).code).toBe(0);

    expect(markA).toMatch(/^[0-9a-f]{12}$/);
    expect(markB).toMatch(/^[0-9a-f]{12}$/);
    expect(markA).not.toBe(markB);
    expect(git('log', '-1', '--format=%an <%ae> %s', 'catty/try-a/main')).toBe(`${AUTHOR} agent: attempt ${markA}`);
    expect(git('log', '-1', '--format=%an <%ae> %s', 'catty/try-b/main')).toBe(`${AUTHOR} agent: attempt ${markB}`);
    // Both grew from the source's commit; the diff between them is the two attempts.
    expect(git('merge-base', 'catty/try-a/main', 'catty/try-b/main')).toBe(git('rev-parse', `catty/${label}/main`));
    expect(git('diff', '--name-only', 'catty/try-a/main', 'catty/try-b/main')).toBe('attempt.txt');
    expect(git('diff', 'catty/try-a/main', 'catty/try-b/main')).toMatch(new RegExp(`^-${markA}\\n\\+${markB}$`, 'm'));
    expect(git('fsck', '--strict', '--no-dangling')).toBe('');
    expect(userState()).toEqual(before);
  }, 120_000);
});
