// `catty secrets set NAME --inject HOST[:PORT] [--header NAME]` and what `catty new` does with it
// (issue 20, item 5): bad input is a usage error (exit 2) naming what is wrong, before anything
// is stored or any session starts; a good rule is stored with the secret and listed.
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp-dir.js';

describe('catty secrets set --inject', () => {
  it.each([
    [['--inject', 'https://api.github.com'], /--inject: "https:\/\/api\.github\.com" is not a host: give the host, not a URL/],
    [['--inject', 'api.github.com:70000'], /--inject: "api\.github\.com:70000" is not a host: port 70000 is out of range/],
    [['--inject', '*.github.com'], /a secret is injected for one host, not a wildcard/],
    [['--inject', 'api.github.com', '--header', 'Host'], /--header: "Host" is a header the proxy sets itself/],
    [['--inject', 'api.github.com', '--header', 'X-Token\r\nX-Evil: 1'], /--header: "X-Token\\r\\nX-Evil: 1" is not an HTTP header name/],
    [['--header', 'X-Api-Key'], /--header goes with --inject HOST/],
  ])('%j → exit 2, nothing stored', async (flags, message) => {
    const home = tempDir('inject-home');
    const run = await runCli(['secrets', 'set', 'GH_TOKEN', 'ghp_value', ...flags], { home });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(message);
    expect((await runCli(['secrets', 'list'], { home })).stdout).toBe('');
  });

  it('stores the rule with the secret and lists it; set again without --inject, it is an ordinary secret', async () => {
    const home = tempDir('inject-home');
    expect((await runCli(['secrets', 'set', 'GH_TOKEN', 'ghp_value', '--inject', 'API.GitHub.com'], { home })).code).toBe(0);
    expect((await runCli(['secrets', 'set', 'KEY', 'k', '--inject', '[::1]:8443', '--header', 'X-Api-Key'], { home })).code).toBe(0);
    const list = await runCli(['secrets', 'list', '--json'], { home });
    expect(JSON.parse(list.stdout)).toEqual([
      { name: 'GH_TOKEN', inject: { host: 'api.github.com', port: 443, header: 'Authorization', bearer: true } },
      { name: 'KEY', inject: { host: '::1', port: 8443, header: 'X-Api-Key', bearer: false } },
    ]);
    expect((await runCli(['secrets', 'list'], { home })).stdout).toContain('KEY  (injected: X-Api-Key: <value> for [::1]:8443)');
    expect((await runCli(['secrets', 'set', 'KEY', 'k2'], { home })).code).toBe(0);
    expect(JSON.parse((await runCli(['secrets', 'list', '--json'], { home })).stdout)[1]).toEqual({ name: 'KEY' });
  });

  it('catty new refuses an inject secret for a host the session may not reach (exit 2, before any session), and sends it once allowed', async () => {
    const home = tempDir('inject-home');
    expect((await runCli(['secrets', 'set', 'GH_TOKEN', 'ghp_value', '--inject', 'git.example.com'], { home })).code).toBe(0);
    const refused = await runCli(['new', '--detach', '--no-upload'], { home, env: { CATTY_API_URL: 'http://127.0.0.1:9' } });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("The secret GH_TOKEN is injected for git.example.com:443, which this session's network policy (--net trusted) does not allow.");
    expect(refused.stderr).toContain('catty new --allow git.example.com');
    // --no-secrets sends none, so none is checked (it fails later: no API at that address).
    const without = await runCli(['new', '--detach', '--no-upload', '--no-secrets'], { home, env: { CATTY_API_URL: 'http://127.0.0.1:9' } });
    expect(without.stderr).not.toContain('GH_TOKEN');
  });
});
