/**
 * The Files view's base (session-runtime/files/base.ts): recorded while the runtime's real
 * extractors write an upload — the manifest (size, sha256) for every file, content kept up to
 * the budget, deduplicated, checked against the manifest on every read.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BaseStore } from '../../session-runtime/files/base.js';
import { MAX_DIFF_TEXT_BYTES } from '../../session-runtime/wire/protocol.js';
import { sha256, uploadTree } from '../helpers/files-base.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait.js';

const FILES = {
  'README.md': '# hello\n'.repeat(100),
  'src/a.ts': 'export const a = 1;\n',
  'src/copy-of-a.ts': 'export const a = 1;\n',
  'empty.txt': '',
  // Over SMALL_ENTRY_BYTES: the CLI streams it with a data descriptor; the runtime records it in pieces.
  'big/log.txt': crypto.randomBytes(700_000).toString('hex'),
};

function packFiles(parent: string): string[] {
  return fs.readdirSync(parent).filter((n) => n.startsWith('catty-base-')).map((n) => path.join(parent, n, 'pack'));
}

describe('files base: recorded at extraction', () => {
  for (const ordinary of [false, true]) {
    it(`records size and sha256 of every file, keeps small contents (${ordinary ? 'ordinary path' : 'fast path'})`, async () => {
      const { store, storeParent } = await uploadTree(FILES, { ordinary });
      expect(store.kind).toBe('upload');
      expect([...store.files.keys()].sort()).toEqual(Object.keys(FILES).sort());
      for (const [rel, data] of Object.entries(FILES)) {
        const file = store.files.get(rel)!;
        expect(file.size).toBe(Buffer.byteLength(data));
        expect(file.sha256).toBe(sha256(data));
        const content = await store.content(file);
        if (file.size > MAX_DIFF_TEXT_BYTES) expect(content).toBeNull();
        else expect(content?.toString()).toBe(data);
      }
      // Two files with the same content are kept once; the pack is outside the workspace, private.
      expect(store.files.get('src/a.ts')!.blob).toEqual(store.files.get('src/copy-of-a.ts')!.blob);
      const [pack] = packFiles(storeParent);
      expect(fs.statSync(pack!).size).toBe(Buffer.byteLength(FILES['README.md']) + Buffer.byteLength(FILES['src/a.ts']));
      expect(fs.statSync(path.dirname(pack!)).mode & 0o777).toBe(0o700);
      store.dispose();
      await waitFor(() => packFiles(storeParent).length === 0, 'the pack to be removed');
    });
  }

  it('leaves .git out of the base: the tree never lists it, so its objects would show as deleted', async () => {
    const { store } = await uploadTree({ ...FILES, '.git/HEAD': 'ref: refs/heads/main\n', '.git/objects/ab/cdef': 'x'.repeat(700_000), 'sub/.git/config': '[core]\n' });
    expect([...store.files.keys()].sort()).toEqual(Object.keys(FILES).sort());
    store.dispose();
  });

  it('keeps contents up to its budget; beyond it only size and sha256', async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 10; i++) files[`f${i}.txt`] = `${i}`.repeat(1000);
    const { store } = await uploadTree(files, { limits: { budgetBytes: 4500, maxFileBytes: 2000 } });
    const kept: string[] = [];
    for (const rel of Object.keys(files)) if ((await store.content(store.files.get(rel)!)) !== null) kept.push(rel);
    expect(kept).toHaveLength(4);
    for (const rel of Object.keys(files)) expect(store.files.get(rel)!.sha256).toBe(sha256(files[rel]!));
    // One file over maxFileBytes is never kept, whatever the budget.
    const one = await uploadTree({ 'big.txt': 'x'.repeat(3000) }, { limits: { budgetBytes: 1e6, maxFileBytes: 2000 } });
    expect(await one.store.content(one.store.files.get('big.txt')!)).toBeNull();
  });

  it('never shows content the pack no longer holds as recorded (the agent can write it)', async () => {
    const { store, storeParent } = await uploadTree({ 'a.txt': 'the base\n', 'b.txt': 'other\n' });
    const [pack] = packFiles(storeParent);
    const a = store.files.get('a.txt')!;
    expect((await store.content(a))?.toString()).toBe('the base\n');
    // Same length, other bytes: fails the manifest's sha256.
    const fd = fs.openSync(pack!, 'r+');
    fs.writeSync(fd, Buffer.from('THE BASE\n'), 0, 9, a.blob!.offset);
    fs.closeSync(fd);
    expect(await store.content(a)).toBeNull();
    expect((await store.content(store.files.get('b.txt')!))?.toString()).toBe('other\n');
    // Cut short: not kept any more.
    fs.truncateSync(pack!, 3);
    expect(await store.content(store.files.get('b.txt')!)).toBeNull();
  });

  it('a discarded recording (a rolled-back extraction) leaves no trace; a reset one starts over', async () => {
    const store = new BaseStore(tempDir('files-store'));
    const first = store.record('upload');
    first.file('a.txt', Buffer.from('aaa'));
    first.discard();
    expect(store.kind).toBe('none');
    const second = store.record('restore');
    second.file('gone.txt', Buffer.from('from the fast path'));
    second.reset();
    const piece = second.begin('b.txt');
    piece.update(Buffer.from('bb'));
    piece.update(Buffer.from('b'));
    piece.end();
    second.link('l', 'b.txt');
    second.commit();
    expect(store.kind).toBe('restore');
    expect([...store.files.keys()]).toEqual(['b.txt']);
    expect((await store.content(store.files.get('b.txt')!))?.toString()).toBe('bbb');
    expect(store.links.get('l')).toBe('b.txt');
    // After the commit the recorder changes nothing.
    second.file('late.txt', Buffer.from('x'));
    expect(store.files.has('late.txt')).toBe(false);
  });

  it('a streamed file over the per-file limit is hashed, never written to the pack', async () => {
    const store = new BaseStore(tempDir('files-store'), { budgetBytes: 1e6, maxFileBytes: 10 });
    const rec = store.record('upload');
    const big = rec.begin('big');
    const data = crypto.randomBytes(25);
    for (let i = 0; i < 25; i += 5) big.update(data.subarray(i, i + 5));
    big.end();
    rec.file('small', Buffer.from('0123456789'));
    rec.commit();
    expect(store.files.get('big')).toEqual({ size: 25, sha256: sha256(data), blob: null });
    expect(store.files.get('small')!.blob).toEqual({ offset: 0, length: 10 });
    expect((await store.content(store.files.get('small')!))?.toString()).toBe('0123456789');
  });
});
