/**
 * `catty new` says, before the session starts, when Claude Code would open at "Not logged in"
 * (issue 19, item 9): no credential among the secrets it sends. A warning; the session starts.
 */
import { describe, expect, it } from 'vitest';
import { loginTo, useFakeSession } from '../helpers/cli-fake-api.js';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp-dir.js';

const fake = useFakeSession();

/** `catty new --detach --no-upload <args>` with these secrets stored. */
async function newWith(secrets: Record<string, string>, args: string[] = []) {
  const home = tempDir('claude-key');
  loginTo(home, fake.api);
  for (const [name, value] of Object.entries(secrets)) expect((await runCli(['secrets', 'set', name, value], { home })).code).toBe(0);
  const result = await runCli(['new', '--detach', '--no-upload', ...args], { home, env: { CATTY_API_URL: fake.api.url } });
  expect(result.code, result.stderr).toBe(0);
  return result.stderr;
}

describe('catty new without a Claude credential', () => {
  it('warns before the session starts, with the command to run', async () => {
    const stderr = await newWith({ GH_TOKEN: 'ghp_x' });
    const warning = stderr.indexOf('catty: warning: no ANTHROPIC_API_KEY secret: Claude Code will start not logged in.');
    expect(warning).toBeGreaterThanOrEqual(0);
    expect(stderr).toContain('Set one first: catty secrets set ANTHROPIC_API_KEY');
    expect(warning).toBeLessThan(stderr.indexOf('is up.'));
  });

  it.each([
    ['an API key', { ANTHROPIC_API_KEY: 'sk-ant-x' }, []],
    ['an OAuth token', { CLAUDE_CODE_OAUTH_TOKEN: 'sk-ant-oat-x' }, []],
    ['--agent shell', {}, ['--agent', 'shell']],
    ['--cmd', {}, ['--cmd', 'make test']],
  ])('says nothing with %s', async (_what, secrets: Record<string, string>, args: string[]) => {
    expect(await newWith(secrets, args)).not.toContain('warning');
  });

  it('with --no-secrets, names the stored key that is not sent', async () => {
    const stderr = await newWith({ ANTHROPIC_API_KEY: 'sk-ant-x' }, ['--no-secrets']);
    expect(stderr).toContain('catty: warning: with --no-secrets your ANTHROPIC_API_KEY secret is not sent: Claude Code will start not logged in.');
  });
});
