/**
 * `catty new` on a terminal (the built binary under a real PTY, issue 19 item 6): in a home
 * directory it asks before uploading (y/N), and a long walk shows a spinner with the count;
 * a workspace too large to upload is refused before a machine is asked for.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loginTo, useFakeSession } from '../helpers/cli-fake-api.js';
import { cliEnv } from '../helpers/cli.js';
import { PtyProcess } from '../helpers/pty.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait.js';

const fake = useFakeSession();

/** The built `catty new --detach ...args` in `cwd` under a PTY, with $HOME = `userHome`. */
function cattyNew(cwd: string, userHome: string, args: string[] = []): PtyProcess {
  const cattyHome = path.join(tempDir('new-catty-home'), 'catty');
  loginTo(cattyHome, fake.api);
  return PtyProcess.catty(['new', '--detach', ...args], { cwd, env: cliEnv(cattyHome, { HOME: userHome, CATTY_API_URL: fake.api.url }) });
}

describe('catty new on a terminal', () => {
  it('asks before uploading the home directory; "n" uploads nothing and asks for no machine', async () => {
    const home = tempDir('user-home');
    fs.writeFileSync(path.join(home, 'notes.txt'), 'mine');
    const created = fake.api.state.created.length;
    const run = cattyNew(home, home);
    await waitFor(async () => run.output().includes('Upload it? [y/N]'), 'the question');
    expect(run.output()).toContain('is your home directory');
    run.write('n');
    expect((await run.exited).exitCode).toBe(1);
    expect(run.output()).toContain('Nothing was uploaded');
    expect(fake.api.state.created.length).toBe(created);
  });

  it('"y" goes ahead and uploads', async () => {
    const home = tempDir('user-home');
    fs.writeFileSync(path.join(home, 'notes.txt'), 'mine');
    const uploads = fake.runtime.uploads.length;
    const run = cattyNew(home, home);
    await waitFor(async () => run.output().includes('Upload it? [y/N]'), 'the question');
    run.write('y');
    expect((await run.exited).exitCode, await run.screen()).toBe(0);
    expect(run.output()).toContain('Uploaded 1 file (');
    expect(fake.runtime.uploads.length).toBe(uploads + 1);
  });

  it('a long walk shows a spinner with the count; too large, no machine is asked for', async () => {
    const created = fake.api.state.created.length;
    const run = cattyNew('/usr', tempDir('user-home'), ['--max-upload-mb', '1']);
    expect((await run.exited).exitCode).toBe(1);
    expect(run.output()).toMatch(/Scanning \/usr: \d+ files so far/);
    // /usr is over the cap, or (on most systems) over the zip's 65,534 files: either is known from the walk.
    expect(run.output()).toMatch(/larger than the upload cap|Too many files to upload/);
    expect(fake.api.state.created.length).toBe(created);
  });
});
