/**
 * GET /files's tree (session-runtime/files/tree.ts) on real directories: a workspace extracted
 * and recorded as an upload is, then changed the ways an agent changes it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { BaseStore } from '../../session-runtime/files/base.js';
import { CTIME_SLACK_MS, HashCache, type Slicer } from '../../session-runtime/files/current.js';
import { WorkspaceTree, compareUtf8 } from '../../session-runtime/files/tree.js';
import type { FileTreeEntry } from '../../session-runtime/wire/protocol.js';
import { uploadTree, writeTree } from '../helpers/files-base.js';
import { tempDir } from '../helpers/temp-dir.js';

const byPath = (entries: FileTreeEntry[]): Record<string, string> => Object.fromEntries(entries.map((e) => [e.path, `${e.kind}${e.change ? ` ${e.change}` : ''}`]));

describe('files tree', () => {
  it('marks added, modified (also same size, back-dated) and deleted files; lists dirs and links; no .git', async () => {
    const { workspace, store } = await uploadTree({ 'keep.txt': 'same\n', 'edit.txt': 'old text\n', 'same-size.txt': 'abcd\n', 'gone.txt': 'bye\n', 'src/x.ts': 'x\n' });
    const ws = (rel: string): string => path.join(workspace, rel);
    writeTree(workspace, { 'edit.txt': 'new, longer text\n', 'src/new.ts': 'n\n', '.git/HEAD': 'ref: refs/heads/main\n', 'sub/.git/config': 'x' });
    // Same size, and the mtime set back to before the upload: the ctime still tells.
    const before = fs.statSync(ws('same-size.txt')).mtime;
    fs.writeFileSync(ws('same-size.txt'), 'ABCD\n');
    fs.utimesSync(ws('same-size.txt'), before, before);
    fs.rmSync(ws('gone.txt'));
    fs.symlinkSync('/etc', ws('etc-link'));
    fs.mkdirSync(ws('empty-dir'));
    execFileSync('mkfifo', [ws('a-fifo')]);
    const tree = await new WorkspaceTree(workspace, store).list();
    expect(tree.base).toBe('upload');
    expect(tree.truncated).toBe(false);
    expect(byPath(tree.entries)).toEqual({
      'edit.txt': 'file modified',
      'empty-dir': 'dir',
      'etc-link': 'symlink added',
      'gone.txt': 'file deleted',
      'keep.txt': 'file',
      'same-size.txt': 'file modified',
      src: 'dir',
      'src/new.ts': 'file added',
      'src/x.ts': 'file',
      sub: 'dir',
    });
    expect(tree.entries.find((e) => e.path === 'gone.txt')!.size).toBe(4);
    expect(tree.entries.find((e) => e.path === 'edit.txt')!.size).toBe(17);
    // Byte order of the paths.
    const paths = tree.entries.map((e) => e.path);
    expect(paths).toEqual([...paths].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))));
  });

  it('a file written back as it was is unchanged again; a restored link is compared by its target', async () => {
    const { workspace, store } = await uploadTree({ 'a.txt': 'one\n' });
    fs.writeFileSync(path.join(workspace, 'a.txt'), 'two\n');
    const tree = new WorkspaceTree(workspace, store);
    expect(byPath((await tree.list()).entries)['a.txt']).toBe('file modified');
    fs.writeFileSync(path.join(workspace, 'a.txt'), 'one\n');
    expect(byPath((await tree.list()).entries)['a.txt']).toBe('file');

    const restored = new BaseStore(tempDir('files-store'));
    const rec = restored.record('restore');
    rec.link('same', 'a.txt');
    rec.link('moved', 'a.txt');
    rec.link('removed', 'a.txt');
    rec.commit();
    fs.symlinkSync('a.txt', path.join(workspace, 'same'));
    fs.symlinkSync('elsewhere.txt', path.join(workspace, 'moved'));
    const entries = byPath((await new WorkspaceTree(workspace, restored).list()).entries);
    expect(entries).toMatchObject({ same: 'symlink', moved: 'symlink modified', removed: 'symlink deleted', 'a.txt': 'file added' });
  });

  it('reads only files whose status says they may have changed since the base', async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 20; i++) files[`f${i}.txt`] = `file ${i}\n`;
    const { workspace, store } = await uploadTree(files, { commitAfterMs: 2 * CTIME_SLACK_MS });
    const hashed: string[] = [];
    class CountingCache extends HashCache {
      override sha256(rel: string, fd: number, st: fs.BigIntStats, slicer: Slicer): Promise<string> {
        hashed.push(rel);
        return super.sha256(rel, fd, st, slicer);
      }
    }
    const tree = new WorkspaceTree(workspace, store, new CountingCache());
    fs.writeFileSync(path.join(workspace, 'f3.txt'), 'FILE 3\n');
    fs.writeFileSync(path.join(workspace, 'f4.txt'), 'a longer file 4\n');
    expect(byPath((await tree.list()).entries)).toMatchObject({ 'f3.txt': 'file modified', 'f4.txt': 'file modified', 'f5.txt': 'file' });
    // Only the same-size one is read (a size that differs says enough).
    expect(hashed).toEqual(['f3.txt']);
  });

  it('with no base yet every file is added', async () => {
    const workspace = tempDir('files-ws');
    writeTree(workspace, { 'a.txt': 'a' });
    const tree = await new WorkspaceTree(workspace, new BaseStore(tempDir('files-store'))).list();
    expect(tree).toEqual({ base: 'none', truncated: false, entries: [{ path: 'a.txt', kind: 'file', size: 1, change: 'added' }] });
  });

  it('over the cap: changed entries first, truncated, still in byte order', async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 30; i++) files[`f${String(i).padStart(2, '0')}.txt`] = `${i}`;
    const { workspace, store } = await uploadTree(files);
    fs.writeFileSync(path.join(workspace, 'f29.txt'), 'changed');
    fs.rmSync(path.join(workspace, 'f28.txt'));
    fs.writeFileSync(path.join(workspace, 'zz-new.txt'), 'new');
    const tree = await new WorkspaceTree(workspace, store, new HashCache(), { maxEntries: 5, maxWalkEntries: 1000 }).list();
    expect(tree.truncated).toBe(true);
    expect(tree.entries.map((e) => `${e.path}${e.change ? ` ${e.change}` : ''}`)).toEqual(['f00.txt', 'f01.txt', 'f28.txt deleted', 'f29.txt modified', 'zz-new.txt added']);
    // The walk's own cap: truncated, and nothing called deleted (the walk did not see everything).
    const cut = await new WorkspaceTree(workspace, store, new HashCache(), { maxEntries: 100, maxWalkEntries: 10 }).list();
    expect(cut.truncated).toBe(true);
    expect(cut.entries.some((e) => e.change === 'deleted')).toBe(false);
  });

  it('sorts by UTF-8 bytes, not UTF-16 units', () => {
    // U+FF5E (3 bytes, 0xEF…) sorts before U+1F600 (4 bytes, 0xF0…) in UTF-8, after it in UTF-16.
    const names = ['\u{1F600}', '\uFF5E', 'a/b', 'a.b', 'a'];
    const bytes = [...names].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    expect([...names].sort(compareUtf8)).toEqual(bytes);
    expect(bytes).toEqual(['a', 'a.b', 'a/b', '\uFF5E', '\u{1F600}']);
  });

  it('concurrent requests share one walk', async () => {
    const { workspace, store } = await uploadTree({ 'a.txt': 'a' });
    const tree = new WorkspaceTree(workspace, store);
    const [one, two] = [tree.list(), tree.list()];
    expect(one).toBe(two);
    expect((await one).entries).toHaveLength(1);
  });
});
