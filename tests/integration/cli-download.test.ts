/**
 * `catty download` of good snapshots (tests/helpers/download-harness.ts): extraction into
 * ./<label>, --format tar.gz, no snapshot yet. Hostile tarballs and refusals (SECURITY.md 1–9)
 * are in tests/security/download.test.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DOWNLOAD_LABEL, useDownloadHarness } from '../helpers/download-harness.js';
import { tarGz, type TarEntry } from '../helpers/tar-raw.js';

const h = useDownloadHarness();

const GOOD: TarEntry[] = [
  { name: 'src/', type: '5' },
  { name: 'src/app.ts', body: 'export const x = 1;\n' },
  { name: 'run.sh', body: '#!/bin/sh\n', mode: 0o4755 },
  { name: '.git/', type: '5' },
  { name: '.git/HEAD', body: 'ref: refs/heads/main\n' },
];

describe('catty download', () => {
  it('extracts a good snapshot into ./<label>, exec bit only', async () => {
    h.serve(tarGz(GOOD));
    const result = await h.download();
    expect(result.code).toBe(0);
    const dest = path.join(result.cwd, DOWNLOAD_LABEL);
    expect(fs.readFileSync(path.join(dest, 'src/app.ts'), 'utf8')).toBe('export const x = 1;\n');
    expect(fs.readFileSync(path.join(dest, '.git/HEAD'), 'utf8')).toContain('refs/heads/main');
    expect(fs.statSync(path.join(dest, 'run.sh')).mode & 0o7777).toBe(0o755);
    expect(fs.readdirSync(result.cwd)).toEqual([DOWNLOAD_LABEL]); // no temp files left
  });

  it('creates symlinks that stay inside, after every file (a tracked symlink no longer refuses the snapshot)', async () => {
    h.serve(
      tarGz([
        // A link listed before its target: links are created once every file is written.
        { name: 'README-link.md', type: '2', linkname: 'README.md' },
        { name: 'README.md', body: '# hi\n' },
        { name: 'src/', type: '5' },
        { name: 'src/app.ts', body: 'x\n' },
        { name: 'src/readme', type: '2', linkname: '../README.md' },
        { name: 'lib', type: '2', linkname: 'src' },
        { name: 'deep/er/root', type: '2', linkname: '../..' },
      ]),
    );
    const result = await h.download();
    expect(result.code, result.stderr).toBe(0);
    const dest = path.join(result.cwd, DOWNLOAD_LABEL);
    expect(fs.readlinkSync(path.join(dest, 'README-link.md'))).toBe('README.md');
    expect(fs.readFileSync(path.join(dest, 'README-link.md'), 'utf8')).toBe('# hi\n');
    expect(fs.readFileSync(path.join(dest, 'src/readme'), 'utf8')).toBe('# hi\n');
    expect(fs.readFileSync(path.join(dest, 'lib/app.ts'), 'utf8')).toBe('x\n');
    expect(fs.readlinkSync(path.join(dest, 'deep/er/root'))).toBe('../..');
    expect(result.stderr).toContain('Extracted 2 files and 4 symlinks');
    expect(result.stderr).not.toContain('Skipped');
  });

  it('saves the verified tarball with --format tar.gz', async () => {
    const archive = tarGz(GOOD);
    h.serve(archive);
    const result = await h.download(['snap', '--format', 'tar.gz']);
    expect(result.code).toBe(0);
    expect(fs.readFileSync(path.join(result.cwd, 'snap.tar.gz')).equals(archive)).toBe(true);
    expect(fs.readdirSync(result.cwd)).toEqual(['snap.tar.gz']);
    // The archive is the machine's own: the user is told not to trust its .git.
    expect(result.stderr).toContain('do not run git in an extracted .git');
  });

  it('exits 4 when there is no snapshot', async () => {
    h.api.state.download = null;
    const result = await h.download();
    expect(result.code).toBe(4);
    expect(fs.readdirSync(result.cwd)).toEqual([]);
  });
});
