/**
 * SECURITY.md 1, 3, 5, 7, 8, 9 on the download side: `catty download` (in-process) fetches
 * snapshot tarballs crafted from raw ustar headers (tests/helpers/tar-raw.ts) from a storage
 * stub; traversal, absolute paths, devices, collisions, corruption, a sha256 mismatch, storage
 * refusing the URL (403) and an entry under a link are each a clear error with nothing written.
 * Case 3 as amended for download: a link that could lead outside (absolute, `../`, a chain, a
 * loop), a link named `.git` or into one, and a hardlink are skipped and listed; the rest of
 * the snapshot is extracted and nothing outside is touched.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DOWNLOAD_LABEL, useDownloadHarness } from '../helpers/download-harness.js';
import { runCli } from '../helpers/cli.js';
import { loginTo } from '../helpers/cli-fake-api.js';
import { tarGz, type TarEntry } from '../helpers/tar-raw.js';
import { tempDir } from '../helpers/temp-dir.js';

const h = useDownloadHarness();

function isLink(file: string): boolean {
  try {
    return fs.lstatSync(file).isSymbolicLink();
  } catch {
    return false;
  }
}

const GOOD: TarEntry[] = [
  { name: 'src/', type: '5' },
  { name: 'src/app.ts', body: 'export const x = 1;\n' },
];

describe('SECURITY.md 1–9: the snapshot tarball (catty download)', () => {
  it.each<[string, TarEntry[], RegExp]>([
    ['01: a ../ path', [{ name: 'ok.txt', body: 'x' }, { name: '../escape.txt', body: 'pwned' }], /bad entry \.\.\/escape\.txt/],
    ['01: a nested ../ path', [{ name: 'a/../../escape.txt', body: 'pwned' }], /bad entry/],
    ['01: an absolute path', [{ name: '/tmp/catty-abs-escape.txt', body: 'pwned' }], /bad entry/],
    ['03: a file under an earlier symlink', [{ name: 'src/', type: '5' }, { name: 'l', type: '2', linkname: 'src' }, { name: 'l/x', body: 'x' }], /l\/x lies under a link/],
    ['03: a file through a symlink that escapes', [{ name: 'l', type: '2', linkname: '../' }, { name: 'l/escape.txt', body: 'pwned' }], /lies under a link/],
    ['03: a file under a later symlink', [{ name: 'l/x', body: 'x' }, { name: 'l', type: '2', linkname: '..' }], /the link l has entries under it/],
    ['03: a symlink under a symlink', [{ name: 'l', type: '2', linkname: 'src' }, { name: 'L/up', type: '2', linkname: '../..' }], /L\/up lies under a link/],
    ['03: a file under a hardlink', [{ name: 'a', body: 'x' }, { name: 'h', type: '1', linkname: 'a' }, { name: 'h/x', body: 'x' }], /lies under a link/],
    ['04: a directory, a symlink of the same name, a file under it', [{ name: 'd/', type: '5' }, { name: 'd', type: '2', linkname: '..' }, { name: 'd/escape.txt', body: 'pwned' }], /collide/],
    ['05: a device', [{ name: 'dev', type: '3' }], /CharacterDevice entry/],
    ['08: a case collision', [{ name: 'README.md', body: 'a' }, { name: 'readme.md', body: 'b' }], /collide/],
  ])('%s is refused and nothing is left behind', async (_what, entries, why) => {
    h.serve(tarGz(entries));
    const result = await h.download();
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(why);
    expect(fs.readdirSync(result.cwd)).toEqual([]);
    expect(fs.existsSync(path.join(path.dirname(result.cwd), 'escape.txt'))).toBe(false);
    expect(fs.existsSync('/tmp/catty-abs-escape.txt')).toBe(false);
  });

  it('03: links that could lead outside or into .git are skipped and listed; the snapshot is extracted', async () => {
    const outside = tempDir('dl-outside');
    h.serve(
      tarGz([
        { name: 'README.md', body: 'readme\n' },
        { name: 'src/', type: '5' },
        { name: 'src/app.ts', body: 'x\n' },
        { name: 'abs', type: '2', linkname: outside },
        { name: 'up', type: '2', linkname: '../escape.txt' },
        { name: 'src/deep', type: '2', linkname: '../../escape.txt' },
        { name: 'sneaky', type: '2', linkname: 'src/../../escape.txt' },
        { name: '.git', type: '2', linkname: 'src' },
        { name: 'src/.Git', type: '2', linkname: '..' },
        { name: 'config-link', type: '2', linkname: '.git/config' },
        { name: 'hooks', type: '2', linkname: 'src/../.git/hooks' },
        // d/up is fine on its own (the root), but d/up/.. is the root's parent.
        { name: 'd/up', type: '2', linkname: '..' },
        { name: 'chain', type: '2', linkname: 'd/up/../escape.txt' },
        { name: 'via', type: '2', linkname: 'up' },
        { name: 'loop1', type: '2', linkname: 'loop2' },
        { name: 'loop2', type: '2', linkname: 'loop1' },
        { name: 'hard', type: '1', linkname: 'README.md' },
        { name: 'win', type: '2', linkname: 'C:\\x' },
      ]),
    );
    const result = await h.download();
    expect(result.code, result.stderr).toBe(0);
    const dest = path.join(result.cwd, DOWNLOAD_LABEL);
    expect(fs.readFileSync(path.join(dest, 'README.md'), 'utf8')).toBe('readme\n');
    expect(fs.readFileSync(path.join(dest, 'src/app.ts'), 'utf8')).toBe('x\n');
    expect(fs.readlinkSync(path.join(dest, 'd/up'))).toBe('..');
    const skipped = ['abs', 'up', 'src/deep', 'sneaky', '.git', 'src/.Git', 'config-link', 'hooks', 'chain', 'via', 'loop1', 'loop2', 'hard', 'win'];
    for (const name of skipped) {
      expect(fs.existsSync(path.join(dest, name)) || isLink(path.join(dest, name)), name).toBe(false);
      expect(result.stderr, name).toMatch(new RegExp(`^    ${name.replace('.', '\\.')} [-=]> `, 'm'));
    }
    expect(result.stderr).toContain(`Skipped ${skipped.length} links`);
    expect(result.stderr).toMatch(/abs -> .*\(absolute target\)/);
    expect(result.stderr).toMatch(/chain -> d\/up\/\.\.\/escape\.txt {2}\(target leaves the directory\)/);
    expect(result.stderr).toMatch(/via -> up {2}\(target leaves the directory, via up\)/);
    expect(result.stderr).toMatch(/config-link -> \.git\/config {2}\(target points into \.git\)/);
    expect(result.stderr).toMatch(/loop1 -> loop2 {2}\(too many levels of links\)/);
    expect(fs.readdirSync(outside)).toEqual([]);
    expect(fs.existsSync(path.join(path.dirname(result.cwd), 'escape.txt'))).toBe(false);
  });

  it('07: a corrupt archive is a clear error; nothing is written', async () => {
    h.serve(Buffer.concat([tarGz(GOOD).subarray(0, 60), Buffer.alloc(100, 1)]));
    const result = await h.download();
    expect(result.code).toBe(1);
    expect(fs.readdirSync(result.cwd)).toEqual([]);
  });

  it('09: an existing non-empty destination is refused before downloading; the user\'s files untouched', async () => {
    h.serve(tarGz(GOOD));
    const home = tempDir('dl');
    const cwd = tempDir('dl-cwd');
    loginTo(home, h.api);
    fs.mkdirSync(path.join(cwd, DOWNLOAD_LABEL));
    fs.writeFileSync(path.join(cwd, DOWNLOAD_LABEL, 'mine.txt'), 'keep');
    const result = await runCli(['download', DOWNLOAD_LABEL], { home, cwd, env: { CATTY_API_URL: h.api.url } });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('not empty');
    expect(fs.readdirSync(path.join(cwd, DOWNLOAD_LABEL))).toEqual(['mine.txt']);
  });

  it('09: a sha256 mismatch against the recorded snapshot aborts before extracting', async () => {
    h.serve(tarGz(GOOD), { sha256: 'a'.repeat(64) });
    const result = await h.download();
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('sha256 mismatch');
    expect(fs.readdirSync(result.cwd)).toEqual([]);
  });

  it('09: storage refusing the URL (403, expired or tampered) is a clear error; nothing written', async () => {
    h.serve(tarGz(GOOD), { status: 403 });
    const result = await h.download();
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('Storage refused the download');
    expect(fs.readdirSync(result.cwd)).toEqual([]);
  });
});
