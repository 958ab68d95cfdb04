import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkApiUrl, configuredApiUrl, saveCredentials } from '../../cli/config.js';
import { createContext } from '../../cli/context.js';
import { parseDurationSec } from '../../cli/commands/options.js';
import { parseDetachKey } from '../../cli/attach/detach-key.js';
import { FakeApi, loginTo } from '../helpers/cli-fake-api.js';
import { cliEnv, runCli } from '../helpers/cli.js';
import { REPO_ROOT } from '../helpers/paths.js';
import { tempDir } from '../helpers/temp-dir.js';

const ctxFor = (home: string, env: NodeJS.ProcessEnv = {}, api?: string) =>
  createContext({ env: cliEnv(home, env) }, { api, insecure: false, debug: false }, REPO_ROOT);

describe('API URL precedence: --api > CATTY_API_URL > saved login > local', () => {
  it('takes each source in order', () => {
    const home = tempDir('cfg');
    expect(configuredApiUrl(ctxFor(home))).toBeNull();
    saveCredentials(ctxFor(home), { version: 1, apiUrl: 'https://saved.example', accessToken: 'a', refreshToken: 'r', expiresAt: new Date().toISOString() });
    expect(configuredApiUrl(ctxFor(home))).toEqual({ url: 'https://saved.example', source: 'login' });
    expect(configuredApiUrl(ctxFor(home, { CATTY_API_URL: 'https://env.example/' }))).toEqual({ url: 'https://env.example', source: 'env' });
    expect(configuredApiUrl(ctxFor(home, { CATTY_API_URL: 'https://env.example' }, 'https://flag.example'))).toEqual({ url: 'https://flag.example', source: 'flag' });
  });

  it('ignores the embedded control plane tokens as a "login"', () => {
    const home = tempDir('cfg');
    saveCredentials(ctxFor(home), { version: 1, apiUrl: 'http://127.0.0.1:5', accessToken: 'a', refreshToken: 'r', expiresAt: new Date().toISOString(), local: true });
    expect(configuredApiUrl(ctxFor(home))).toBeNull();
  });
});

describe('credentials file', () => {
  it('lives in a 0700 $CATTY_HOME as a 0600 versioned file', () => {
    const home = path.join(tempDir('cfg'), 'nested', 'home');
    saveCredentials(ctxFor(home), { version: 1, apiUrl: 'https://x.example', accessToken: 'a', refreshToken: 'r', expiresAt: '2030-01-01T00:00:00Z' });
    expect(fs.statSync(home).mode & 0o777).toBe(0o700);
    const file = path.join(home, 'credentials.json');
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(JSON.parse(fs.readFileSync(file, 'utf8'))).toMatchObject({ version: 1, apiUrl: 'https://x.example' });
  });
});

describe('plain-http refusal', () => {
  it.each(['http://127.0.0.1:8080', 'http://localhost:1', 'http://[::1]:3', 'https://api.example.com'])('accepts %s', (url) => {
    expect(() => checkApiUrl(url, false)).not.toThrow();
  });
  it('refuses non-loopback http unless --insecure', () => {
    expect(() => checkApiUrl('http://api.example.com', false)).toThrow(/not loopback/);
    expect(checkApiUrl('http://api.example.com/', true)).toBe('http://api.example.com');
  });
  it('exits 2 from the command line', async () => {
    const home = tempDir('cfg');
    const result = await runCli(['--api', 'http://10.1.2.3:8080', 'list'], { home });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--insecure');
  });
});

describe('option parsers', () => {
  it('parses durations', () => {
    expect(parseDurationSec('90')).toBe(90);
    expect(parseDurationSec('30m')).toBe(1800);
    expect(parseDurationSec('1h30m')).toBe(5400);
    expect(() => parseDurationSec('soon')).toThrow();
  });
  it('parses detach keys', () => {
    expect(parseDetachKey('ctrl-]')).toBe(0x1d);
    expect(parseDetachKey('ctrl-x')).toBe(0x18);
    expect(parseDetachKey('^A')).toBe(0x01);
    expect(() => parseDetachKey('x')).toThrow();
  });
});

describe('commands against a fake API', () => {
  let api: FakeApi;
  beforeAll(async () => {
    api = await FakeApi.start();
  });
  afterAll(async () => api.close());

  it('exits 3 when not logged in to a configured API', async () => {
    const home = tempDir('cfg');
    const result = await runCli(['--api', api.url, 'list'], { home });
    expect(result.code).toBe(3);
    expect(result.stderr).toContain('catty login');
  });

  it('refreshes once on 401 and retries, saving the new tokens', async () => {
    const home = tempDir('cfg');
    loginTo(home, api);
    api.addSession({ label: 'calm-fox-0001' });
    api.state.accessToken = 'rotated-by-server'; // the saved access token is now stale
    const before = api.state.refreshes;
    const result = await runCli(['list', '--json'], { home, env: { CATTY_API_URL: api.url } });
    expect(result.code).toBe(0);
    expect(api.state.refreshes).toBe(before + 1);
    const listed = JSON.parse(result.stdout) as Array<{ label: string; status: string }>;
    expect(listed.map((s) => s.label)).toContain('calm-fox-0001');
    const saved = JSON.parse(fs.readFileSync(path.join(home, 'credentials.json'), 'utf8')) as { accessToken: string };
    expect(saved.accessToken).toBe(api.state.accessToken);
  });

  it('exits 4 for an unknown session and prints a table for list', async () => {
    const home = tempDir('cfg');
    loginTo(home, api);
    const stop = await runCli(['stop', 'no-such-1'], { home, env: { CATTY_API_URL: api.url } });
    expect(stop.code).toBe(4);
    const list = await runCli(['ls'], { home, env: { CATTY_API_URL: api.url } });
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^LABEL\s+STATUS\s+AGE\s+PROVISIONER/);
  });

  it('exits 2 on a usage error and 0 for --help', async () => {
    const home = tempDir('cfg');
    expect((await runCli(['new', '--agent', 'vim'], { home })).code).toBe(2);
    expect((await runCli(['stop'], { home })).code).toBe(2);
    const help = await runCli(['--help'], { home });
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('255 when the connection is lost');
  });

  it.each([['version'], ['--version'], ['-V']])('prints its version (%s)', async (arg) => {
    const result = await runCli([arg], { home: tempDir('cfg') });
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^catty \d+\.\d+\.\d+ \(protocol 1, node v\d+/);
  });

  it('logs out: deletes the credentials', async () => {
    const home = tempDir('cfg');
    loginTo(home, api);
    const result = await runCli(['logout'], { home });
    expect(result.code).toBe(0);
    expect(fs.existsSync(path.join(home, 'credentials.json'))).toBe(false);
    expect(api.state.requests).toContain('POST /v1/auth/logout');
  });
});
