/**
 * Issue 19 item 1, as the user met it, through the built `catty` under a real PTY against the
 * built API (local provisioner) and runtime: `new --agent shell --detach`, connect, detach, a
 * local edit and a local delete, connect again. The runtime sends the paths it sent the first
 * client again (it cannot know what this laptop has); the session's version of them is the base,
 * so the second connect must change nothing the user did.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect } from 'vitest';
import type { TestApi } from '../helpers/api.js';
import { saveLogin } from '../helpers/credentials.js';
import { testWithApi } from '../helpers/fixtures.js';
import { PtyProcess } from '../helpers/pty.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait.js';

const it = testWithApi();
let api: TestApi;
let home: string;
let env: NodeJS.ProcessEnv;

it.beforeAll(({ api: started }) => {
  api = started;
  home = tempDir('home');
  saveLogin(home, { apiUrl: api.url, accessToken: api.token });
  env = { PATH: process.env.PATH, HOME: home, CATTY_HOME: home, CATTY_API_URL: api.url, CATTY_KEYRING: 'off', LANG: 'C.UTF-8' };
});

/** Types `command` into the session's shell; resolves once `file` has been synced back into `dir`. */
async function runAndSync(session: PtyProcess, dir: string, command: string, file: string): Promise<void> {
  session.write(`${command}\r`);
  await waitFor(() => fs.existsSync(path.join(dir, file)), () => `${file} synced back; screen:\n${session.output().slice(-1000)}`, { timeoutMs: 30_000 });
}

async function detach(session: PtyProcess): Promise<string> {
  session.write('\x1d');
  expect(await session.waitForExit(30_000)).toBe(0);
  return session.screen();
}

describe('a reconnect after a local edit and a local delete', () => {
  it('changes nothing the user did: no conflict copy, the deleted file stays deleted, the edit stays', async () => {
    const dir = tempDir('proj');
    fs.writeFileSync(path.join(dir, 'a.txt'), 'uploaded a\n');
    fs.writeFileSync(path.join(dir, 'b.txt'), 'uploaded b\n');

    const created = PtyProcess.catty(['new', '--agent', 'shell', '--detach'], { cwd: dir, env });
    expect(await created.waitForExit(90_000)).toBe(0);
    const label = fs.readdirSync(path.join(home, 'sessions')).find((n) => n.endsWith('.json') && !n.endsWith('.manifest.json'))!.replace(/\.json$/, '');

    // First attach: the session touches both files (same content: its version is the base) and
    // makes one; that one arrives after them (the runtime sends in the order things changed).
    const first = PtyProcess.catty(['connect', label], { cwd: dir, env });
    await runAndSync(first, dir, 'touch a.txt b.txt; echo made > made.txt', 'made.txt');
    await detach(first);

    fs.writeFileSync(path.join(dir, 'a.txt'), 'local\n');
    fs.rmSync(path.join(dir, 'b.txt'));

    // Second attach. Two steps: once again.txt is here the runtime has taken the sync request,
    // so what it sends again was queued before again2.txt changed, and has arrived before it.
    const second = PtyProcess.catty(['connect', label], { cwd: dir, env });
    await runAndSync(second, dir, 'echo again > again.txt', 'again.txt');
    await runAndSync(second, dir, 'echo again2 > again2.txt', 'again2.txt');
    const screen = await detach(second);

    expect(fs.readdirSync(dir).filter((n) => n.includes('catty-conflict'))).toEqual([]);
    expect(fs.existsSync(path.join(dir, 'b.txt'))).toBe(false);
    expect(fs.readFileSync(path.join(dir, 'a.txt'), 'utf8')).toBe('local\n');
    expect(fs.readFileSync(path.join(dir, 'made.txt'), 'utf8')).toBe('made\n');
    expect(screen).toContain('0 conflicts');
  }, 120_000);
});
