/**
 * What the agent sees: a cleared environment with CATTY_AGENT_ENV (secrets reach the agent),
 * none of the runtime's CATTY_* variables, HOME = the prepared agent home with Claude Code's
 * configuration pre-seeded, cwd = the workspace.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect } from 'vitest';
import { test as it } from '../helpers/fixtures.js';
import { TestClient, agentCmd } from '../helpers/runtime.js';
import { tempDir } from '../helpers/temp-dir.js';

describe('catty-session agent environment', () => {
  it('passes CATTY_AGENT_ENV to the agent and nothing of the runtime', async ({ startRuntime }) => {
    const secret = 'sk-ant-test-0123456789abcdefghijklmnopqrstuvwxyz';
    const dump = path.join(tempDir('envdump'), 'env.json');
    const rt = await startRuntime({
      env: {
        CATTY_NO_UPLOAD: '1',
        CATTY_AGENT_CMD: agentCmd('envdump.mjs', dump),
        CATTY_AGENT_ENV: JSON.stringify({ ANTHROPIC_API_KEY: secret, MY_SETTING: 'on', CATTY_SNEAKY: 'no' }),
        CATTY_API_URL: 'http://127.0.0.1:9',
        CATTY_MACHINE_TOKEN: 'machine-token-must-not-leak',
        AWS_SECRET_ACCESS_KEY: 'storage-secret-must-not-leak',
        CATTY_SNAPSHOT_INTERVAL_MS: '600000',
      },
    });
    const c = new TestClient(rt);
    await c.opened;
    await c.waitForText('DUMPED');
    const { env, cwd } = JSON.parse(fs.readFileSync(dump, 'utf8')) as { env: Record<string, string>; cwd: string };
    expect(env.ANTHROPIC_API_KEY).toBe(secret);
    expect(env.MY_SETTING).toBe('on');
    expect(Object.keys(env).filter((k) => k.startsWith('CATTY_'))).toEqual([]);
    expect(env.AWS_SECRET_ACCESS_KEY).toBeUndefined();
    expect(JSON.stringify(env)).not.toContain('machine-token-must-not-leak');
    expect(JSON.stringify(env)).not.toContain(rt.token);
    expect(env.TERM).toBe('xterm-256color');
    expect(env.HOME).toBe(path.join(rt.dir, 'home'));
    expect(env.PATH).toContain('node_modules/.bin');
    expect(fs.realpathSync(cwd)).toBe(fs.realpathSync(rt.workspace));
    // Claude Code's configuration is pre-seeded in the agent's home.
    const config = JSON.parse(fs.readFileSync(path.join(env.HOME!, '.claude.json'), 'utf8'));
    expect(config.hasCompletedOnboarding).toBe(true);
    expect(config.bypassPermissionsModeAccepted).toBe(true);
    expect(config.projects[rt.workspace].hasTrustDialogAccepted).toBe(true);
    expect(config.customApiKeyResponses.approved).toEqual([secret.slice(-20)]);
    const settings = JSON.parse(fs.readFileSync(path.join(env.HOME!, '.claude/settings.json'), 'utf8'));
    expect(settings.skipDangerousModePermissionPrompt).toBe(true);
    // The secret is in no workspace file and in no runtime log line.
    for (const name of fs.readdirSync(rt.workspace, { recursive: true }) as string[]) {
      const file = path.join(rt.workspace, name);
      if (fs.statSync(file).isFile()) expect(fs.readFileSync(file, 'utf8')).not.toContain(secret);
    }
    expect(rt.stderr()).not.toContain(secret);
    expect(rt.stdout()).not.toContain(secret);
  });
});
