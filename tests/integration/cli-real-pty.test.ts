/**
 * The built `catty` under a real PTY against the real API and runtime: `new` uploads, attaches
 * in raw mode, relays typing both ways, syncs a file back, exits with the agent's code and
 * leaves the terminal sane.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../helpers/api.js';
import { CATTY_BIN, tempDir, waitUntil } from '../helpers/cli.js';

let api: TestApi;
beforeAll(async () => {
  api = await startTestApi();
}, 120_000);
afterAll(async () => api?.close());

describe('catty new in a real terminal', () => {
  it('types into the agent, gets its output and exit code, and restores the terminal', async () => {
    const home = tempDir('rpty');
    fs.writeFileSync(
      path.join(home, 'credentials.json'),
      JSON.stringify({ version: 1, apiUrl: api.url, accessToken: api.client.token, refreshToken: 'unused', expiresAt: new Date(Date.now() + 3600e3).toISOString() }),
      { mode: 0o600 },
    );
    const dir = tempDir('rpty-proj');
    fs.writeFileSync(path.join(dir, 'input.txt'), 'from the laptop\n');
    // `sleep 1`: the runtime does not yet flush pending file changes before it reports the exit
    // (reported to the runtime's owner); without it the last write can miss the attach.
    const agent = 'cat input.txt; printf "name? "; read name; echo "hello $name" > greeting.txt; echo "bye $name"; sleep 1; exit 3';
    const pty = await import('node-pty');
    let out = '';
    const p = pty.spawn('/bin/sh', ['-c', `"${process.execPath}" "${CATTY_BIN}" new --cmd '${agent}'; echo "rc=$?"; stty -a`], {
      name: 'xterm-256color',
      cols: 100,
      rows: 30,
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', HOME: home, CATTY_HOME: home, CATTY_KEYRING: 'off', TERM: 'xterm-256color', CATTY_API_URL: api.url },
    });
    p.onData((d) => (out += d));
    const exit = new Promise<void>((resolve) => p.onExit(() => resolve()));
    await waitUntil(() => out.includes('name? '), 60_000, 'agent prompt');
    expect(out).toContain('from the laptop');
    p.write('catty\r');
    await exit;
    expect(out).toContain('bye catty');
    expect(out).toContain('rc=3');
    const stty = out.slice(out.lastIndexOf('rc=3'));
    expect(stty).toMatch(/(^|\s)icanon(\s|$)/m);
    expect(stty).toMatch(/(^|\s)echo(\s|$)/m);
    expect(fs.readFileSync(path.join(dir, 'greeting.txt'), 'utf8')).toBe('hello catty\n');
  }, 120_000);
});
