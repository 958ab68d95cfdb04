/**
 * What `catty new` uploads and what it settles before asking for a machine (issue 19: items 5,
 * 6, 12), against a fake API + fake runtime: the cap checked from the walk, a failed upload
 * removing its session, a home directory asked about (exit 2 without a terminal), vanishing
 * files skipped, the `.gitignore` files above the project inside its repository, and a file git
 * tracks that the defaults leave out. The terminal side (the question, the walk's spinner) is in
 * cli-new-terminal.test.ts.
 */
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loginTo, useFakeSession } from '../helpers/cli-fake-api.js';
import { FakeRuntime } from '../helpers/fake-runtime.js';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp-dir.js';

const fake = useFakeSession();

function write(root: string, files: Record<string, string | Buffer>): void {
  for (const [rel, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), content);
  }
}

/** `catty new --detach ...args` in `dir`; `home` doubles as $HOME unless `userHome` is given. */
async function newIn(dir: string, args: string[] = [], env: NodeJS.ProcessEnv = {}) {
  const home = tempDir('new-home');
  loginTo(home, fake.api);
  const before = { created: fake.api.state.created.length, uploads: fake.runtime.uploads.length };
  const result = await runCli(['new', '--detach', ...args], { home, cwd: dir, env: { CATTY_API_URL: fake.api.url, ...env } });
  const label = result.code === 0 ? (result.stdout.trim().split('\n').at(-1) as string) : null;
  return {
    ...result,
    home,
    label,
    machinesAsked: fake.api.state.created.length - before.created,
    uploads: fake.runtime.uploads.length - before.uploads,
    uploaded: () => Object.keys((JSON.parse(fs.readFileSync(path.join(home, 'sessions', `${label}.manifest.json`), 'utf8')) as { files: object }).files).sort(),
  };
}

describe('catty new: the upload cap (item 5)', () => {
  it('refuses a workspace over the cap before asking for a machine, naming the largest paths', async () => {
    const dir = tempDir('new');
    write(dir, { 'a.txt': 'a', 'model-weights.bin': crypto.randomBytes(3 * 1024 * 1024) });
    const run = await newIn(dir, [], { CATTY_MAX_UPLOAD_MB: '1' });
    expect(run.code).toBe(1);
    expect(run.machinesAsked).toBe(0);
    expect(run.uploads).toBe(0);
    expect(run.stderr).toContain('model-weights.bin');
    expect(run.stderr).toContain('.cattyignore');
    expect(run.stderr).toContain('(2 files, 3.0 MiB)');
  });

  it('still uploads a workspace larger than the cap that zips below it', async () => {
    const dir = tempDir('new');
    write(dir, { 'big.txt': 'the same line again\n'.repeat(150_000) });
    const run = await newIn(dir, [], { CATTY_MAX_UPLOAD_MB: '1' });
    expect(run.code, run.stderr).toBe(0);
    expect(run.uploaded()).toEqual(['big.txt']);
  });

  it('removes a session whose upload fails: not left behind in `catty list`', async () => {
    const refusing = await FakeRuntime.start({ uploadStatus: 500 });
    const saved = fake.api.state.connectUrl;
    fake.api.state.connectUrl = refusing.url;
    try {
      const dir = tempDir('new');
      write(dir, { 'a.txt': 'a' });
      const run = await newIn(dir);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('refused the upload');
      const label = /Session (\S+) is up/.exec(run.stderr)?.[1];
      expect(label).toBeDefined();
      expect(fake.api.state.requests).toContain(`DELETE /v1/sessions/${label}`);
      const list = await runCli(['list', '--json'], { home: run.home, env: { CATTY_API_URL: fake.api.url } });
      expect((JSON.parse(list.stdout) as Array<{ label: string }>).map((s) => s.label)).not.toContain(label);
      expect(fs.existsSync(path.join(run.home, 'sessions', `${label}.json`))).toBe(false);
    } finally {
      fake.api.state.connectUrl = saved;
      await refusing.close();
    }
  });
});

describe('catty new: a home or root directory, vanishing files (item 6)', () => {
  it('refuses to upload the home directory without a terminal: exit 2, naming --yes, no machine', async () => {
    const userHome = tempDir('user-home');
    write(userHome, { 'notes.txt': 'mine' });
    const run = await newIn(userHome, [], { HOME: userHome });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('your home directory');
    expect(run.stderr).toContain('--yes');
    expect(run.machinesAsked).toBe(0);
  });

  it('uploads it with --yes, leaving $CATTY_HOME out', async () => {
    const userHome = tempDir('user-home');
    write(userHome, { 'notes.txt': 'mine' });
    const cattyHome = path.join(userHome, '.catty');
    loginTo(cattyHome, fake.api);
    const result = await runCli(['new', '--detach', '--yes'], { home: cattyHome, cwd: userHome, env: { CATTY_API_URL: fake.api.url, HOME: userHome } });
    expect(result.code, result.stderr).toBe(0);
    const label = result.stdout.trim().split('\n').at(-1) as string;
    const manifest = JSON.parse(fs.readFileSync(path.join(cattyHome, 'sessions', `${label}.manifest.json`), 'utf8')) as { files: object };
    expect(Object.keys(manifest.files)).toEqual(['notes.txt']);
  });

  it('skips and counts entries that vanish during the walk (/proc/self/fdinfo: the listing fd is gone by the time it is read)', async () => {
    const run = await newIn('/proc/self/fdinfo');
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/that vanished or could not be read/);
  });
});

describe('catty new: git around the project (item 12)', () => {
  it('says "1 file"', async () => {
    const dir = tempDir('new');
    write(dir, { 'only.txt': 'x' });
    const run = await newIn(dir);
    expect(run.code).toBe(0);
    expect(run.stderr).toContain('Uploaded 1 file (');
  });

  it("applies the parent directories' .gitignore files inside the repository, relative to each", async () => {
    const repo = tempDir('repo');
    write(repo, {
      '.git/HEAD': 'ref: refs/heads/main\n',
      '.gitignore': '*.log\n/app/secret.txt\n*.tmp\n/secret.txt\n',
      'pkg/.gitignore': 'build/\n',
      'pkg/app/.gitignore': '!keep.tmp\n',
      'pkg/app/keep.txt': 'k',
      'pkg/app/x.log': 'l',
      'pkg/app/scratch.tmp': 't',
      'pkg/app/keep.tmp': 't',
      'pkg/app/build/out.js': 'b',
      'pkg/app/app/secret.txt': 'anchored at the repository root: not this one',
      'pkg/app/secret.txt': 'anchored at the repository root: not this one either',
    });
    const run = await newIn(path.join(repo, 'pkg/app'));
    expect(run.code, run.stderr).toBe(0);
    expect(run.uploaded()).toEqual(['.gitignore', 'app/secret.txt', 'keep.tmp', 'keep.txt', 'secret.txt']);
  });

  it('names a file git tracks that the defaults leave out, and a `!` line in .cattyignore brings it back', async () => {
    const repo = tempDir('repo');
    write(repo, { '.env': 'KEY=1\n', 'a.txt': 'a', 'node_modules/vendored/index.js': 'v', 'untracked.pyc': 'x' });
    execFileSync('git', ['init', '-q'], { cwd: repo });
    execFileSync('git', ['add', '.env', 'a.txt', 'node_modules'], { cwd: repo });
    const first = await newIn(repo);
    expect(first.code, first.stderr).toBe(0);
    expect(first.uploaded()).not.toContain('.env');
    expect(first.stderr).toMatch(/default ignores, though git tracks them.*: \.env, node_modules\/vendored\/index\.js/);
    expect(first.stderr).toContain('add these lines to .cattyignore: !.env  !node_modules/');
    expect(first.stderr).not.toContain('untracked.pyc');

    write(repo, { '.cattyignore': '!.env\n!node_modules/\n' });
    const second = await newIn(repo);
    expect(second.code, second.stderr).toBe(0);
    expect(second.uploaded()).toEqual(expect.arrayContaining(['.env', 'node_modules/vendored/index.js']));
    expect(second.stderr).not.toContain('git tracks');
  });
});
