/**
 * Multi-line errors print their lines (issue 19, item 7: the upload-cap error printed
 * "Largest files:\x0a…"), while a newline inside a file name stays escaped.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeApi, loginTo } from '../helpers/cli-fake-api.js';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp-dir.js';

let api: FakeApi;
beforeAll(async () => {
  api = await FakeApi.start();
});
afterAll(() => api.close());

describe('the upload-cap error', () => {
  it('lists the largest files one per line; a newline in a name is escaped', async () => {
    const dir = tempDir('cap-lines');
    fs.writeFileSync(path.join(dir, 'weights.bin'), crypto.randomBytes(3 * 1024 * 1024));
    fs.writeFileSync(path.join(dir, 'evil\nnote.bin'), crypto.randomBytes(2 * 1024 * 1024));
    const home = tempDir('cap-home');
    loginTo(home, api);
    const result = await runCli(['new', '--detach', '--agent', 'shell'], { home, cwd: dir, env: { CATTY_API_URL: api.url, CATTY_MAX_UPLOAD_MB: '1' } });
    expect(result.code).toBe(1);
    const lines = result.stderr.split('\n');
    const at = lines.findIndex((l) => l.endsWith('Largest files:'));
    expect(lines[at]).toMatch(/^catty: The workspace \(2 files, 5\.0 MiB\) is larger than the upload cap of 1\.0 MiB \(compressed\)\. Largest files:$/);
    expect(lines[at + 1]).toBe('       3.0 MiB  weights.bin');
    expect(lines[at + 2]).toBe('       2.0 MiB  evil\\x0anote.bin');
    expect(lines[at + 3]).toMatch(/^ {2}Add them to \.cattyignore/);
    expect(result.stderr.replace('evil\\x0anote', '')).not.toContain('\\x0a');
  });
});
