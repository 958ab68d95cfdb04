/**
 * `catty` commands in-process against the real API (dist/api/bin.js, local provisioner) and the
 * real session runtime on loopback: new (detached and attached, with sync-back), connect,
 * list, logs, stop, download, secrets reaching the agent, and the embedded control plane.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect } from 'vitest';
import type { TestApi } from '../helpers/api.js';
import { runCli, startCli } from '../helpers/cli.js';
import { saveLogin } from '../helpers/credentials.js';
import { testWithApi } from '../helpers/fixtures.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait.js';

const it = testWithApi();
let api: TestApi;
/** A $CATTY_HOME logged in to `api`. */
let home: string;

function project(): string {
  const dir = tempDir('proj');
  fs.writeFileSync(path.join(dir, 'hello.txt'), 'hello from the laptop\n');
  fs.writeFileSync(path.join(dir, '.gitignore'), 'ignored.txt\n');
  fs.writeFileSync(path.join(dir, 'ignored.txt'), 'must not be uploaded\n');
  fs.mkdirSync(path.join(dir, 'src'));
  fs.writeFileSync(path.join(dir, 'src', 'app.ts'), 'export const app = 1;\n');
  return dir;
}

const cli = (argv: string[], cwd?: string) => runCli(argv, { home, cwd, env: { CATTY_API_URL: api.url } });

it.beforeAll(({ api: started }) => {
  api = started;
  home = tempDir('home');
  saveLogin(home, { apiUrl: api.url, accessToken: api.token });
});

describe('catty against the real API and runtime', () => {
  it('new --detach uploads the filtered tree, records the session and prints the label last', async () => {
    const dir = project();
    // Above the packer's whole-file threshold: streamed with a data descriptor.
    const big = crypto.randomBytes(2.5 * 1024 * 1024);
    fs.writeFileSync(path.join(dir, 'big.bin'), big);
    const bigSha = crypto.createHash('sha256').update(big).digest('hex');
    const result = await cli(['new', '--detach', '--cmd', 'ls -a; cat hello.txt; sha256sum big.bin; sleep 30'], dir);
    expect(result.code).toBe(0);
    const label = result.stdout.trim().split('\n').at(-1) as string;
    expect(label).toMatch(/^[a-z]+-[a-z]+-\d{4}$/);
    const record = JSON.parse(fs.readFileSync(path.join(home, 'sessions', `${label}.json`), 'utf8')) as { localDir: string; apiUrl: string };
    expect(record.localDir).toBe(dir);
    expect(record.apiUrl).toBe(api.url);
    const manifest = JSON.parse(fs.readFileSync(path.join(home, 'sessions', `${label}.manifest.json`), 'utf8')) as { files: Record<string, { sha256: string }> };
    expect(Object.keys(manifest.files).sort()).toEqual(['.gitignore', 'big.bin', 'hello.txt', 'src/app.ts']);
    expect(manifest.files['big.bin']?.sha256).toBe(bigSha);
    expect(manifest.files['hello.txt']?.sha256).toBe(crypto.createHash('sha256').update('hello from the laptop\n').digest('hex'));

    const list = await cli(['list', '--json']);
    expect((JSON.parse(list.stdout) as Array<{ label: string; status: string }>).find((s) => s.label === label)?.status).toBe('running');

    const logs = await waitFor(async () => {
      const r = await cli(['logs', label]);
      return /[0-9a-f]{64}\s+big\.bin/.test(r.stdout) ? r : null;
    }, 'logs', { timeoutMs: 30_000 });
    expect(logs.stdout).toContain('src');
    expect(logs.stdout).toContain(bigSha);
    expect(logs.stdout).not.toContain('ignored.txt');

    expect((await cli(['stop', label])).code).toBe(0);
    expect((await cli(['connect', label])).code).toBe(4);
  }, 90_000);

  it('new attaches, relays keystrokes, syncs changes back, and exits with the agent code', async () => {
    const dir = project();
    // No pause before the exit: the runtime sends the agent's last changes before `exit`.
    const run = startCli(['new', '--cmd', 'echo ready; read line; echo "got:$line"; echo made > src/new.txt; rm hello.txt; exit 7'], {
      home,
      cwd: dir,
      env: { CATTY_API_URL: api.url },
    });
    await waitFor(() => run.stderr.text.includes('Uploaded'), 'upload', { timeoutMs: 60_000 });
    // Attached and the agent is reading a line: type one.
    await waitFor(() => run.stdout.text.includes('ready'), 'agent output', { timeoutMs: 30_000 });
    run.stdin.write('typed-line\r');
    expect(await run.code).toBe(7);
    expect(run.stdout.text).toContain('got:typed-line');
    // Applied before catty exits.
    expect(fs.readFileSync(path.join(dir, 'src', 'new.txt'), 'utf8')).toBe('made\n');
    expect(fs.existsSync(path.join(dir, 'hello.txt'))).toBe(false);
    expect(run.stderr.text).toMatch(/sync-back: \d+ written, 1 deleted/);
  }, 90_000);

  it('detach, then connect from another directory syncs into the original one', async () => {
    const dir = project();
    const created = await cli(['new', '--detach', '--cmd', 'read line; echo "$line" > from-connect.txt; echo written; exit 0'], dir);
    const label = created.stdout.trim().split('\n').at(-1) as string;
    const elsewhere = tempDir('elsewhere');
    const run = startCli(['connect', label], { home, cwd: elsewhere, env: { CATTY_API_URL: api.url } });
    // Keystrokes typed before the socket is up are not sent: wait for the hello's sync_back effect.
    await waitFor(() => fs.existsSync(path.join(home, 'logs', `${label}.log`)), 'attached', { timeoutMs: 30_000 });
    await waitFor(() => {
      run.stdin.write('via-connect\r');
      return fs.existsSync(path.join(dir, 'from-connect.txt'));
    }, 'line received', { timeoutMs: 30_000 });
    expect(await run.code).toBe(0);
    // Synced into the original directory before catty exited.
    expect(fs.readFileSync(path.join(dir, 'from-connect.txt'), 'utf8')).toBe('via-connect\n');
    expect(fs.readdirSync(elsewhere)).toEqual([]);
  }, 90_000);

  it('sends secrets to the agent only unless --no-secrets', async () => {
    const dir = project();
    expect((await runCli(['secrets', 'set', 'MY_TOKEN', 'tok-123'], { home })).code).toBe(0);
    const withSecrets = startCli(['new', '--cmd', 'echo "secret=[$MY_TOKEN]"; exit 0'], { home, cwd: dir, env: { CATTY_API_URL: api.url } });
    expect(await withSecrets.code).toBe(0);
    expect(withSecrets.stdout.text).toContain('secret=[tok-123]');
    const without = startCli(['new', '--no-secrets', '--cmd', 'echo "secret=[$MY_TOKEN]"; exit 0'], { home, cwd: dir, env: { CATTY_API_URL: api.url } });
    expect(await without.code).toBe(0);
    expect(without.stdout.text).toContain('secret=[]');
    fs.rmSync(path.join(home, 'secrets.json'));
  }, 90_000);

  it('downloads the snapshot of a stopped session, and deletes with stop --delete', async () => {
    const dir = project();
    const created = await cli(['new', '--detach', '--cmd', 'echo generated > gen.txt; echo gen-done; sleep 60'], dir);
    const label = created.stdout.trim().split('\n').at(-1) as string;
    await waitFor(async () => (await cli(['logs', label])).stdout.includes('gen-done'), 'agent wrote gen.txt', { timeoutMs: 30_000 });
    const stopped = await cli(['stop', label]);
    expect(stopped.code).toBe(0);
    // What to do next: go on, or take the files.
    expect(stopped.stderr).toContain(`catty resume ${label}`);
    expect(stopped.stderr).toContain(`catty download ${label}`);
    const out = tempDir('dl');
    const dest = path.join(out, 'restored');
    const dl = await waitFor(async () => {
      const r = await cli(['download', label, dest]);
      return r.code === 0 ? r : null;
    }, 'download', { timeoutMs: 30_000 });
    expect(dl.code).toBe(0);
    expect(fs.readFileSync(path.join(dest, 'hello.txt'), 'utf8')).toBe('hello from the laptop\n');
    expect(fs.readFileSync(path.join(dest, 'gen.txt'), 'utf8')).toBe('generated\n');
    expect((await cli(['stop', label, '--delete'])).code).toBe(0);
    const list = JSON.parse((await cli(['list', '--json'])).stdout) as Array<{ label: string }>;
    expect(list.some((s) => s.label === label)).toBe(false);
    expect(fs.existsSync(path.join(home, 'sessions', `${label}.json`))).toBe(false);
  }, 90_000);
});

describe('the embedded local control plane', () => {
  it('new starts it when no API is configured, reuses it, and server stop/status manage it', async () => {
    const localHome = tempDir('local-home');
    const dir = project();
    try {
      const first = await runCli(['new', '--detach', '--cmd', 'sleep 30'], { home: localHome, cwd: dir });
      expect(first.code).toBe(0);
      const status = await runCli(['server', 'status'], { home: localHome });
      expect(status.code).toBe(0);
      const pid = Number(/pid:\s+(\d+)/.exec(status.stdout)?.[1]);
      expect(pid).toBeGreaterThan(0);
      const second = await runCli(['list', '--json'], { home: localHome });
      expect(JSON.parse(second.stdout)).toHaveLength(1);
      expect(Number(/pid:\s+(\d+)/.exec((await runCli(['server', 'status'], { home: localHome })).stdout)?.[1])).toBe(pid);
      const label = first.stdout.trim().split('\n').at(-1) as string;
      expect((await runCli(['stop', label], { home: localHome })).code).toBe(0);
    } finally {
      const stopped = await runCli(['server', 'stop'], { home: localHome });
      expect(stopped.stdout).toContain('Stopped');
      expect((await runCli(['server', 'status'], { home: localHome })).code).toBe(1);
    }
  }, 120_000);
});
