/**
 * The default agent, for real: Claude Code from the package's own dependency, started by the
 * local provisioner inside its sandbox, its screen relayed to a terminal. There is no network to
 * Anthropic here, so it stops at its prompt; that proves the PTY, the pre-seeded home (no
 * onboarding, trust or API-key dialog in the way), the environment and the relay.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PtyProcess } from '../helpers/pty.js';
import { tempDir } from '../helpers/temp-dir.js';
import { runCatty } from './harness.js';

let home: string;
let project: string;
let env: NodeJS.ProcessEnv;

beforeAll(() => {
  home = tempDir('claude-home');
  project = tempDir('claude-project');
  env = { PATH: process.env.PATH, HOME: home, CATTY_HOME: path.join(home, '.catty'), TERM: 'xterm-256color', LANG: 'C.UTF-8' };
  fs.writeFileSync(path.join(project, 'hello.py'), 'print("hello")\n');
});

afterAll(async () => {
  await runCatty(['server', 'stop'], { cwd: project, env }).catch(() => undefined);
});

describe('catty new with real Claude Code', () => {
  it('shows Claude Code’s own screen, takes typed text, and ends cleanly', async () => {
    const key = await runCatty(['secrets', 'set', 'ANTHROPIC_API_KEY'], { cwd: project, env, input: 'sk-ant-api03-e2e-not-a-real-key-0123456789' });
    expect(key.code, key.stderr).toBe(0);

    const session = PtyProcess.catty(['new'], { cwd: project, env, cols: 100, rows: 30 });
    // Straight to its prompt: the welcome banner with its version, the workspace, and no dialog.
    const screen = await session.waitForScreen(/Claude Code v\d+\.\d+/, 90_000);
    expect(screen).toContain('/workspace');
    expect(screen).not.toMatch(/trust|Do you want to use this API key|Choose the text style/i);

    session.write('hello from catty');
    await session.waitForScreen('hello from catty');

    // Clear the line and leave with /exit: Claude Code exits 0 and so does catty.
    session.write('\x15');
    session.write('/exit');
    await session.waitForScreen(/❯\s\/exit/);
    await session.waitForScreen('Exit the CLI');
    session.write('\r');
    expect(await session.waitForExit(30_000)).toBe(0);
  }, 180_000);
});
