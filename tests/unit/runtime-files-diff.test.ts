/**
 * GET /files/diff's answer (session-runtime/files/diff.ts) on real directories: both sides of a
 * file (text, binary, too large, not kept), every kind of change, and the path as hostile input.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { HashCache } from '../../session-runtime/files/current.js';
import { fileDiff } from '../../session-runtime/files/diff.js';
import { MAX_DIFF_TEXT_BYTES } from '../../session-runtime/wire/protocol.js';
import { sha256, uploadTree } from '../helpers/files-base.js';

describe('files diff', () => {
  it('text, binary, too large and not-kept sides; added, modified, deleted, unchanged', async () => {
    const png = crypto.randomBytes(300);
    const big = crypto.randomBytes(MAX_DIFF_TEXT_BYTES / 2 + 100).toString('hex');
    const { workspace, store } = await uploadTree(
{ 'a.ts': 'const a = 1;\n', 'same.md': '# same\n', 'img.png': png, 'gone.txt': 'bye\n', 'big.txt': big });
    fs.writeFileSync(path.join(workspace, 'a.ts'), 'const a = 2;\n');
    fs.writeFileSync(path.join(workspace, 'new.txt'), 'héllo\n');
    fs.writeFileSync(path.join(workspace, 'img.png'), Buffer.concat([png, Buffer.from([0])]));
    fs.rmSync(path.join(workspace, 'gone.txt'));
    const diff = async (rel: string): Promise<unknown> => {
      const outcome = await fileDiff(workspace, store, new HashCache(), rel);
      if (!outcome.ok) throw new Error(`${outcome.status} ${outcome.code}`);
      return outcome.diff;
    };
    expect(await diff('a.ts')).toEqual({
      path: 'a.ts',
      change: 'modified',
      base: { size: 13, sha256: sha256('const a = 1;\n'), kind: 'text', text: 'const a = 1;\n' },
      current: { size: 13, sha256: sha256('const a = 2;\n'), kind: 'text', text: 'const a = 2;\n' },
    });
    expect(await diff('same.md')).toEqual({ path: 'same.md', base: { size: 7, sha256: sha256('# same\n'), kind: 'text', text: '# same\n' }, current: { size: 7, sha256: sha256('# same\n'), kind: 'text', text: '# same\n' } });
    expect(await diff('new.txt')).toEqual({ path: 'new.txt', change: 'added', base: null, current: { size: 7, sha256: sha256('héllo\n'), kind: 'text', text: 'héllo\n' } });
    expect(await diff('gone.txt')).toEqual({ path: 'gone.txt', change: 'deleted', base: { size: 4, sha256: sha256('bye\n'), kind: 'text', text: 'bye\n' }, current: null });
    expect(await diff('img.png')).toMatchObject({ change: 'modified', base: { kind: 'binary', size: 300, sha256: sha256(png) }, current: { kind: 'binary', size: 301 } });
    // Over MAX_DIFF_TEXT_BYTES: no text on either side, the hash still.
    expect(await diff('big.txt')).toEqual({ path: 'big.txt', base: { size: big.length, sha256: sha256(big), kind: 'too_large' }, current: { size: big.length, sha256: sha256(big), kind: 'too_large' } });
  });

  it('past the store\'s budget the base side is not kept: its size and hash are', async () => {
    const { workspace, store } = await uploadTree({ 'late.txt': 'x'.repeat(500) }, { limits: { budgetBytes: 100, maxFileBytes: MAX_DIFF_TEXT_BYTES } });
    const outcome = await fileDiff(workspace, store, new HashCache(), 'late.txt');
    expect(outcome).toEqual({ ok: true, diff: { path: 'late.txt', base: { kind: 'not_kept', size: 500, sha256: sha256('x'.repeat(500)) }, current: { kind: 'text', size: 500, sha256: sha256('x'.repeat(500)), text: 'x'.repeat(500) } } });
  });

  it('refuses hostile paths and says what it wants', async () => {
    const { workspace, store } = await uploadTree({ 'a.txt': 'a' });
    const cases: Array<[string | null, number, string]> = [
      [null, 400, 'invalid_request'],
      ['', 400, 'invalid_path'],
      ['/etc/passwd', 400, 'invalid_path'],
      ['../secret', 400, 'invalid_path'],
      ['a/../../x', 400, 'invalid_path'],
      ['./a.txt', 400, 'invalid_path'],
      ['a.txt\0.png', 400, 'invalid_path'],
      ['a\\..\\..\\x', 400, 'invalid_path'],
      ['C:/x', 400, 'invalid_path'],
      ['%2e%2e/x', 404, 'not_found'],
      ['x'.repeat(5000), 400, 'invalid_path'],
      [Array(70).fill('d').join('/'), 400, 'invalid_path'],
      ['.git/config', 404, 'not_found'],
      ['sub/.GIT/config', 404, 'not_found'],
      ['missing.txt', 404, 'not_found'],
    ];
    fs.mkdirSync(path.join(workspace, '.git'));
    fs.writeFileSync(path.join(workspace, '.git/config'), '[remote] url = https://token@host/');
    for (const [rel, status, code] of cases) {
      const outcome = await fileDiff(workspace, store, new HashCache(), rel);
      expect(outcome, String(rel).slice(0, 40)).toMatchObject({ ok: false, status, code });
    }
  });

  it('never reads through a link: final, in a directory, to a directory; a FIFO does not block', async () => {
    const { workspace, store } = await uploadTree({ 'a.txt': 'a', 'dir/inner.txt': 'inner' });
    const ws = (rel: string): string => path.join(workspace, rel);
    fs.symlinkSync('/etc/passwd', ws('passwd'));
    fs.symlinkSync('/etc', ws('etc'));
    fs.symlinkSync('a.txt', ws('inside-link'));
    // The base had dir/inner.txt; the directory is swapped for a link to one holding another inner.txt.
    const outside = path.join(path.dirname(workspace), `${path.basename(workspace)}-outside`);
    fs.mkdirSync(outside);
    fs.writeFileSync(path.join(outside, 'inner.txt'), 'OUTSIDE');
    fs.renameSync(ws('dir'), ws('dir-moved'));
    fs.symlinkSync(outside, ws('dir'));
    execFileSync('mkfifo', [ws('fifo')]);
    for (const rel of ['passwd', 'etc/passwd', 'inside-link', 'dir/inner.txt']) {
      const outcome = await fileDiff(workspace, store, new HashCache(), rel);
      expect(outcome, rel).toMatchObject({ ok: false, status: 409, code: 'symlink' });
    }
    expect(await fileDiff(workspace, store, new HashCache(), 'fifo')).toMatchObject({ ok: false, status: 404 });
    fs.rmSync(outside, { recursive: true });
  });

  it('a file that grows past the limit while read is too large, never more than the limit in memory', async () => {
    const { workspace, store } = await uploadTree({ 'a.txt': 'a' });
    const fd = fs.openSync(path.join(workspace, 'huge.bin'), 'w');
    fs.ftruncateSync(fd, 3 * 1024 ** 3); // sparse: 3 GiB of size, over HASH_MAX_BYTES
    fs.closeSync(fd);
    const started = performance.now();
    const outcome = await fileDiff(workspace, store, new HashCache(), 'huge.bin');
    expect(outcome).toEqual({ ok: true, diff: { path: 'huge.bin', change: 'added', base: null, current: { size: 3 * 1024 ** 3, sha256: '', kind: 'too_large' } } });
    expect(performance.now() - started).toBeLessThan(500);
  });
});
