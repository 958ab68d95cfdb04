/**
 * What the CLI tells about sessions that can come back (issue 23): `catty list --json` names
 * the branches that came home to each session's local repository, `catty connect` of a stopped
 * session that has a snapshot points at `catty resume`, and resume, fork and git have examples
 * in --help. Against a fake API; the repositories are real ones made by git.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeApi, loginTo } from '../helpers/cli-fake-api.js';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp-dir.js';

let api: FakeApi;
let home: string;

beforeAll(async () => {
  api = await FakeApi.start();
  home = tempDir('hints-home');
  loginTo(home, api);
});
afterAll(async () => {
  await api?.close();
});

const cli = (argv: string[]) => runCli(argv, { home, env: { CATTY_API_URL: api.url } });

const GIT_ENV = { PATH: process.env.PATH, HOME: tempDir('hints-git-home'), GIT_CONFIG_NOSYSTEM: '1', GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@example.com', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@example.com' };
const gitIn = (dir: string, ...args: string[]) => execFileSync('git', args, { cwd: dir, env: GIT_ENV, encoding: 'utf8' }).trim();

/** A repository with one commit; `refs` are made pointing at it. */
function repoWith(refs: string[]): string {
  const dir = tempDir('hints-repo');
  gitIn(dir, 'init', '-q', '-b', 'main');
  fs.writeFileSync(path.join(dir, 'a.txt'), 'a\n');
  gitIn(dir, 'add', 'a.txt');
  gitIn(dir, 'commit', '-q', '-m', 'one');
  const head = gitIn(dir, 'rev-parse', 'HEAD');
  for (const ref of refs) gitIn(dir, 'update-ref', ref, head);
  return dir;
}

/** The record `catty new` leaves on this machine: which local directory the session belongs to. */
function recordFor(label: string, localDir: string): void {
  const dir = path.join(home, 'sessions');
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const record = { label, id: `id-${label}`, apiUrl: api.url, localDir, createdAt: new Date().toISOString() };
  fs.writeFileSync(path.join(dir, `${label}.json`), JSON.stringify(record), { mode: 0o600 });
}

type Listed = Array<{ label: string; branches: string[]; resumable: boolean }>;

describe('catty list --json', () => {
  it("names each session's branches that came home, [] without a repository or a record", async () => {
    const repo = repoWith([
      'refs/remotes/catty/brave-otter-1/main',
      'refs/remotes/catty/brave-otter-1/feature/x',
      // Another session's namespace that starts with the same words: not this one's.
      'refs/remotes/catty/brave-otter-1-b/main',
      'refs/heads/catty-local',
    ]);
    api.addSession({ label: 'brave-otter-1', status: 'stopped', resumable: true });
    recordFor('brave-otter-1', repo);
    api.addSession({ label: 'brave-otter-1-b', status: 'running' });
    recordFor('brave-otter-1-b', repo);
    api.addSession({ label: 'plain-dir-2', status: 'running' });
    recordFor('plain-dir-2', tempDir('hints-plain'));
    api.addSession({ label: 'elsewhere-3', status: 'running' });

    const listed = await cli(['list', '--json']);
    expect(listed.code).toBe(0);
    const byLabel = new Map((JSON.parse(listed.stdout) as Listed).map((s) => [s.label, s]));
    expect(byLabel.get('brave-otter-1')).toMatchObject({ branches: ['feature/x', 'main'], resumable: true });
    expect(byLabel.get('brave-otter-1-b')?.branches).toEqual(['main']);
    expect(byLabel.get('plain-dir-2')?.branches).toEqual([]);
    expect(byLabel.get('elsewhere-3')?.branches).toEqual([]);
  });
});

describe('catty connect of an ended session', () => {
  it('points at catty resume when it has a snapshot, exit code unchanged', async () => {
    api.addSession({ label: 'can-resume-4', status: 'stopped', resumable: true });
    const result = await cli(['connect', 'can-resume-4']);
    expect(result.code).toBe(4);
    expect(result.stderr).toContain('Session can-resume-4 is stopped.');
    expect(result.stderr).toContain('catty resume can-resume-4');
    expect(result.stderr).toContain('catty download can-resume-4');
  });

  it('does not when there is nothing to resume from', async () => {
    api.addSession({ label: 'no-snapshot-5', status: 'timed_out', resumable: false });
    const result = await cli(['connect', 'no-snapshot-5']);
    expect(result.code).toBe(4);
    expect(result.stderr).toContain('Session no-snapshot-5 is timed_out.');
    expect(result.stderr).not.toContain('catty resume');
  });
});

describe('--help', () => {
  it.each([['resume'], ['fork'], ['git']])('has examples: catty %s --help', async (command) => {
    const result = await runCli([command, '--help'], { home: tempDir('hints-help') });
    expect(result.code).toBe(0);
    const examples = result.stdout.slice(result.stdout.indexOf('\nExamples:\n'));
    expect(examples).toMatch(/^\nExamples:\n {2}\$ \S/);
    expect(examples).toContain(`catty ${command} brave-otter-1234`);
  });
});
