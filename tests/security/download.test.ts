/**
 * SECURITY.md 1, 3, 5, 7, 8, 9 on the download side: `catty download` (in-process) fetches
 * snapshot tarballs crafted from raw ustar headers (tests/helpers/tar-raw.ts) from a storage
 * stub; links, traversal, absolute paths, devices, collisions, corruption, a sha256 mismatch and
 * storage refusing the URL (403) are each a clear error with nothing written.
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

const GOOD: TarEntry[] = [
  { name: 'src/', type: '5' },
  { name: 'src/app.ts', body: 'export const x = 1;\n' },
];

describe('SECURITY.md 1–9: the snapshot tarball (catty download)', () => {
  it.each<[string, TarEntry[], RegExp]>([
    ['01: a ../ path', [{ name: 'ok.txt', body: 'x' }, { name: '../escape.txt', body: 'pwned' }], /bad entry \.\.\/escape\.txt/],
    ['01: a nested ../ path', [{ name: 'a/../../escape.txt', body: 'pwned' }], /bad entry/],
    ['01: an absolute path', [{ name: '/tmp/catty-abs-escape.txt', body: 'pwned' }], /bad entry/],
    ['03: a symlink', [{ name: 'src/', type: '5' }, { name: 'src/link', type: '2', linkname: '/etc/passwd' }], /SymbolicLink entry/],
    ['03: a hardlink', [{ name: 'a.txt', body: 'x' }, { name: 'b.txt', type: '1', linkname: 'a.txt' }], /Link entry/],
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
