/**
 * `catty new` against a fake API + fake runtime: request body, upload, records, cleanup. What is
 * uploaded and what is asked first (cap, home directory, git) is in cli-new-upload.test.ts.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loginTo, useFakeSession } from '../helpers/cli-fake-api.js';
import { FakeRuntime } from '../helpers/fake-runtime.js';
import { runCli, startCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait.js';

const fake = useFakeSession();

async function newIn(dir: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  const home = tempDir('new-home');
  loginTo(home, fake.api);
  return { home, ...(await runCli(['new', ...args], { home, cwd: dir, env: { CATTY_API_URL: fake.api.url, ...env } })) };
}

function project(): string {
  const dir = tempDir('new');
  fs.writeFileSync(path.join(dir, 'a.txt'), 'a');
  fs.mkdirSync(path.join(dir, '.git'));
  fs.writeFileSync(path.join(dir, '.git', 'HEAD'), 'ref');
  return dir;
}

describe('catty new', () => {
  it('--detach: sends the request, uploads, records, prints the label as the last stdout line', async () => {
    const dir = project();
    const before = fake.runtime.uploads.length;
    const { home, code, stdout } = await newIn(dir, ['--detach', '--agent', 'shell', '--cmd', 'make test', '--ttl', '45m']);
    expect(code).toBe(0);
    const label = stdout.trim().split('\n').at(-1) as string;
    expect(fake.api.state.created.at(-1)).toEqual({ agent: 'shell', upload: true, cmd: 'make test', ttlSec: 2700 });
    expect(fake.runtime.uploads.length).toBe(before + 1);
    expect(fs.existsSync(path.join(home, 'sessions', `${label}.json`))).toBe(true);
    const manifest = JSON.parse(fs.readFileSync(path.join(home, 'sessions', `${label}.manifest.json`), 'utf8')) as { files: Record<string, unknown> };
    expect(Object.keys(manifest.files).sort()).toEqual(['.git/HEAD', 'a.txt']);
  });

  it('--no-git leaves .git out; --no-upload uploads nothing', async () => {
    const dir = project();
    const noGit = await newIn(dir, ['--detach', '--no-git']);
    const label = noGit.stdout.trim().split('\n').at(-1) as string;
    const manifest = JSON.parse(fs.readFileSync(path.join(noGit.home, 'sessions', `${label}.manifest.json`), 'utf8')) as { files: Record<string, unknown> };
    expect(Object.keys(manifest.files)).toEqual(['a.txt']);
    const before = fake.runtime.uploads.length;
    const noUpload = await newIn(dir, ['--detach', '--no-upload']);
    expect(noUpload.code).toBe(0);
    expect(fake.runtime.uploads.length).toBe(before);
    expect(fake.api.state.created.at(-1)).toMatchObject({ upload: false });
  });

  it('sends secrets unless --no-secrets', async () => {
    const dir = project();
    const home = tempDir('new-home');
    loginTo(home, fake.api);
    expect((await runCli(['secrets', 'set', 'GH_TOKEN', 'ghp_x'], { home })).code).toBe(0);
    expect((await runCli(['new', '--detach'], { home, cwd: dir, env: { CATTY_API_URL: fake.api.url } })).code).toBe(0);
    expect(fake.api.state.created.at(-1)).toMatchObject({ secrets: { GH_TOKEN: 'ghp_x' } });
    expect((await runCli(['new', '--detach', '--no-secrets'], { home, cwd: dir, env: { CATTY_API_URL: fake.api.url } })).code).toBe(0);
    expect(fake.api.state.created.at(-1)).not.toHaveProperty('secrets');
  });

  it('Ctrl-C during the upload stops it and removes the session (exit 130)', async () => {
    const stalled = await FakeRuntime.start({ stallUpload: true });
    const saved = fake.api.state.connectUrl;
    fake.api.state.connectUrl = stalled.url;
    try {
      const dir = project();
      fs.writeFileSync(path.join(dir, 'big.bin'), crypto.randomBytes(8 * 1024 * 1024));
      const home = tempDir('new-home');
      loginTo(home, fake.api);
      const run = startCli(['new', '--detach'], { home, cwd: dir, env: { CATTY_API_URL: fake.api.url } });
      run.stdin.end();
      await waitFor(() => stalled.uploadQuery, 'upload started', { timeoutMs: 20_000 });
      await waitFor(() => run.proc.listenerCount('SIGINT') > 0, 'handler', { timeoutMs: 20_000 });
      run.proc.emit('SIGINT');
      expect(await run.code).toBe(130);
      expect(run.stderr.text).toContain('Cancelled');
      const label = /Session (\S+) is up/.exec(run.stderr.text)?.[1];
      expect(label).toBeDefined();
      expect(fake.api.state.requests).toContain(`DELETE /v1/sessions/${label}`);
      expect(fake.api.state.sessions.some((s) => s.label === label)).toBe(false);
      expect(fs.existsSync(path.join(home, 'sessions', `${label}.json`))).toBe(false);
      expect(run.proc.listenerCount('SIGINT')).toBe(0);
    } finally {
      fake.api.state.connectUrl = saved;
      await stalled.close();
    }
  });

  it('--net and --allow: parsed by the seam and sent as the policy; the default (trusted, nothing added) is left to the API', async () => {
    const dir = project();
    expect((await newIn(dir, ['--detach', '--no-upload'])).code).toBe(0);
    expect(fake.api.state.created.at(-1)).not.toHaveProperty('network');
    const run = await newIn(dir, ['--detach', '--no-upload', '--net', 'none', '--allow', 'Registry.NPMjs.org,*.corp.example:8443', '--allow', '[::1]:8080', '--allow', 'registry.npmjs.org:8443']);
    expect(run.code).toBe(0);
    expect(fake.api.state.created.at(-1)).toMatchObject({
      network: {
        preset: 'none',
        allow: [
          { host: 'registry.npmjs.org', ports: [80, 443, 8443] },
          { host: '*.corp.example', ports: [8443] },
          { host: '::1', ports: [8080] },
        ],
      },
    });
    expect((await newIn(dir, ['--detach', '--no-upload', '--net', 'full'])).code).toBe(0);
    expect(fake.api.state.created.at(-1)).toMatchObject({ network: { preset: 'full', allow: [] } });
  });

  it('exits 2 for a bad --net or --allow with the seam\'s message, before any session is asked for', async () => {
    const before = fake.api.state.created.length;
    const cases: Array<[string[], RegExp]> = [
      [['--net', 'open'], /--net: "open" is not a network preset[\s\S]*--net none, --net trusted \(the default\) or --net full/],
      [['--allow', 'https://example.com'], /--allow: "https:\/\/example.com" is not a host to allow: give the host, not a URL/],
      [['--allow', 'example.com:99999'], /--allow: "example.com:99999" is not a host to allow: port 99999 is out of range/],
      [['--allow', 'a.example,,b.example'], /--allow: "" is not a host to allow: the entry is empty/],
      [['--allow', '*'], /to allow every public host, use --net full/],
      [['--allow', '127.1'], /write the address in full \(127\.0\.0\.1\)/],
    ];
    for (const [flags, message] of cases) {
      const run = await newIn(project(), ['--detach', ...flags]);
      expect(run.code, flags.join(' ')).toBe(2);
      expect(run.stderr, flags.join(' ')).toMatch(message);
      expect(run.stderr).not.toMatch(/Session .* is up/);
    }
    expect(fake.api.state.created.length).toBe(before);
  });

  it('exits 2 for a bad --ttl', async () => {
    expect((await newIn(project(), ['--ttl', 'forever'])).code).toBe(2);
    expect((await newIn(project(), ['--ttl', '2s'])).code).toBe(2);
  });
});
