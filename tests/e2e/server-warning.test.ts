/**
 * The embedded control plane warns (in its log) when sessions would run without a sandbox; the
 * person whose `catty` started it must see that warning on their terminal.
 */
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/temp-dir.js';
import { runCatty } from './harness.js';

const home = tempDir('warn-home');
const env = { PATH: process.env.PATH, HOME: home, CATTY_HOME: path.join(home, '.catty'), CATTY_LOCAL_SANDBOX: 'none' };

afterAll(async () => {
  await runCatty(['server', 'stop'], { cwd: home, env }).catch(() => undefined);
});

describe('catty server start', () => {
  it('repeats the control plane’s warning about running without isolation', async () => {
    const started = await runCatty(['server', 'start'], { cwd: home, env });
    expect(started.code, started.stderr).toBe(0);
    expect(started.stderr).toMatch(/catty: warning: .*WITHOUT isolation/);
  }, 60_000);
});
