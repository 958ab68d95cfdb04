/**
 * Without a working sandbox the embedded control plane refuses sessions unless told
 * `CATTY_LOCAL_SANDBOX=none` — and says so where the person typing sees it: `catty new` fails
 * with why, what opting out would cost, and how to do either; `catty server start` repeats the
 * control plane's warning (in its log) on the terminal, for the refusal and for the opt-out.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { onCleanup } from '../helpers/cleanup.js';
import { tempDir } from '../helpers/temp-dir.js';
import { runCatty } from './harness.js';

/** A user with a home of their own; the control plane a test starts there is stopped when the
 * test ends — before the home goes (later cleanups run first), or its pid file goes with it and
 * the API and its catty-node outlive the test. */
function user(env: NodeJS.ProcessEnv): { home: string; env: NodeJS.ProcessEnv } {
  const home = tempDir('warn-home');
  const made = { home, env: { HOME: home, CATTY_HOME: path.join(home, '.catty'), ...env } };
  onCleanup(() => runCatty(['server', 'stop'], { cwd: home, env: made.env }).catch(() => undefined));
  return made;
}

describe('the embedded control plane without a sandbox', () => {
  it('CATTY_LOCAL_SANDBOX=none: `catty server start` repeats the warning about running without isolation', async () => {
    const { home, env } = user({ PATH: process.env.PATH, CATTY_LOCAL_SANDBOX: 'none' });
    const started = await runCatty(['server', 'start'], { cwd: home, env });
    expect(started.code, started.stderr).toBe(0);
    expect(started.stderr).toMatch(/catty: warning: .*WITHOUT isolation/);
  }, 60_000);

  it('no bubblewrap: `catty new` is refused, saying why, what opting out costs and how; nothing is created', async () => {
    // A PATH with no bwrap on it (node is started by its absolute path).
    const { home, env } = user({ PATH: tempDir('empty-path') });
    const created = await runCatty(['new', '--detach', '--no-upload', '--cmd', 'true'], { cwd: home, env });
    expect(created.code).toBe(1);
    expect(created.stderr).toContain('catty: warning: bubblewrap (bwrap) is not installed: local sessions are refused.');
    expect(created.stderr).toMatch(/catty: local sessions need a working bubblewrap sandbox, and bubblewrap \(bwrap\) is not installed\. Install bubblewrap .* opt out with CATTY_LOCAL_SANDBOX=none to run sessions WITHOUT isolation: the agent would then act as you, read and write all your files/);
    expect(created.stderr).toContain('CATTY_LOCAL_SANDBOX=none catty new');
    const listed = await runCatty(['list', '--json'], { cwd: home, env });
    expect(JSON.parse(listed.stdout)).toEqual([]);
  }, 60_000);

  it('a bubblewrap that cannot sandbox here counts as none, with its own error in the message', async () => {
    const bin = tempDir('broken-bwrap');
    fs.writeFileSync(path.join(bin, 'bwrap'), '#!/bin/sh\necho "bwrap: No permissions to create a new namespace" >&2\nexit 1\n', { mode: 0o755 });
    const { home, env } = user({ PATH: `${bin}:${process.env.PATH}` });
    const created = await runCatty(['new', '--detach', '--no-upload', '--cmd', 'true'], { cwd: home, env });
    expect(created.code).toBe(1);
    expect(created.stderr).toContain('bubblewrap is installed but cannot sandbox here (bwrap: No permissions to create a new namespace)');
    expect(created.stderr).toContain('CATTY_LOCAL_SANDBOX=none');
  }, 60_000);
});
