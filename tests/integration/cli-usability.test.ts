/**
 * The smaller things a new user meets first (issue 19, item 12): a suggestion only for a typo,
 * examples in --help, --json where scripts read.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { REPO_ROOT } from '../helpers/paths.js';
import { tempDir } from '../helpers/temp-dir.js';

const cli = (...argv: string[]) => runCli(argv, { home: tempDir('usability') });

describe('an unknown command', () => {
  it('gets no guess when it is no typo (bogus is not logs)', async () => {
    const result = await cli('bogus');
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("unknown command 'bogus'");
    expect(result.stderr).not.toContain('Did you mean');
  });

  it.each([
    [['lsit'], 'list'],
    [['donwload'], 'download'],
    [['conn'], 'connect'],
    [['secrets', 'lsit'], 'list'],
    [['server', 'stauts'], 'status'],
  ])('gets one for a typo: %s', async (argv, meant) => {
    const result = await cli(...argv);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`(Did you mean ${meant}?)`);
  });
});

describe('--help', () => {
  it.each([[[]], [['new']], [['connect']], [['download']], [['secrets', 'set']], [['login']]])('has examples: catty %s --help', async (path) => {
    const result = await cli(...path, '--help');
    expect(result.code).toBe(0);
    const examples = result.stdout.slice(result.stdout.indexOf('\nExamples:\n'));
    expect(examples).toMatch(/^\nExamples:\n {2}\$ \S/);
    if (path.length > 0) expect(examples).toContain(`catty ${path.join(' ')}`);
  });
});

describe('--json', () => {
  it('secrets list: an array of {name}', async () => {
    const home = tempDir('usability');
    expect(JSON.parse((await runCli(['secrets', 'list', '--json'], { home })).stdout)).toEqual([]);
    expect((await runCli(['secrets', 'set', 'GH_TOKEN', 'ghp_x'], { home })).code).toBe(0);
    const listed = await runCli(['secrets', 'list', '--json'], { home });
    expect(listed.code).toBe(0);
    expect(JSON.parse(listed.stdout)).toEqual([{ name: 'GH_TOKEN' }]);
    expect(listed.stdout).not.toContain('ghp_x');
  });

  it('version: {version, protocol, node}', async () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
    const result = await cli('version', '--json');
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ version: pkg.version, protocol: 1, node: process.version });
  });

  it('server status, not running: {running: false, log}, exit 1', async () => {
    const home = tempDir('usability');
    const result = await runCli(['server', 'status', '--json'], { home });
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout)).toEqual({ running: false, log: path.join(home, 'local', 'api.log') });
  });
});
