/**
 * The built `catty` under a real PTY against the real API and runtime: `new` uploads, attaches
 * in raw mode, relays typing both ways, syncs a file back, exits with the agent's code and
 * leaves the terminal sane.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect } from 'vitest';
import { saveLogin } from '../helpers/credentials.js';
import { testWithApi } from '../helpers/fixtures.js';
import { CATTY_BIN } from '../helpers/paths.js';
import { PtyProcess } from '../helpers/pty.js';
import { tempDir } from '../helpers/temp-dir.js';

const it = testWithApi();

describe('catty new in a real terminal', () => {
  it('types into the agent, gets its output and exit code, and restores the terminal', async ({ api }) => {
    const home = tempDir('rpty');
    saveLogin(home, { apiUrl: api.url, accessToken: api.token });
    const dir = tempDir('rpty-proj');
    fs.writeFileSync(path.join(dir, 'input.txt'), 'from the laptop\n');
    // No pause before the exit: the runtime sends the agent's last changes before `exit`, and
    // catty applies them before it exits.
    const agent = 'cat input.txt; printf "name? "; read name; echo "hello $name" > greeting.txt; echo "bye $name"; exit 3';
    const p = PtyProcess.shell(`"${process.execPath}" "${CATTY_BIN}" new --cmd '${agent}'; echo "rc=$?"; stty -a`, {
      cwd: dir,
      env: { PATH: process.env.PATH, HOME: home, CATTY_HOME: home, CATTY_KEYRING: 'off', CATTY_API_URL: api.url },
    });
    await p.waitForOutput('name? ', 60_000);
    expect(p.output()).toContain('from the laptop');
    p.write('catty\r');
    await p.exited;
    const out = p.output();
    expect(out).toContain('bye catty');
    expect(out).toContain('rc=3');
    const stty = out.slice(out.lastIndexOf('rc=3'));
    expect(stty).toMatch(/(^|\s)icanon(\s|$)/m);
    expect(stty).toMatch(/(^|\s)echo(\s|$)/m);
    expect(fs.readFileSync(path.join(dir, 'greeting.txt'), 'utf8')).toBe('hello catty\n');
  }, 120_000);
});
