import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { SyncApplier } from '../../cli/sync/applier.js';
import { SyncReport } from '../../cli/sync/report.js';
import { ManifestStore } from '../../cli/sessions/store.js';
import { TempFile, conflictPath } from '../../cli/sync/local-fs.js';
import { tempDir } from '../helpers/temp-dir.js';

const sha = (s: string) => crypto.createHash('sha256').update(s).digest('hex');

function applier() {
  const root = tempDir('applier');
  const saved: number[] = [];
  const manifest = new ManifestStore(new Map(), (files) => saved.push(files.size), 10);
  const report = new SyncReport(null);
  const pressure: boolean[] = [];
  const a = new SyncApplier({ root, label: 'l-1', manifest, report });
  a.setPressureListener((p) => pressure.push(p));
  return { a, root, report, pressure, manifest, saved };
}

function write(a: SyncApplier, rel: string, content: string) {
  a.handle({ type: 'file_change', path: rel, action: 'write', executable: false, size: Buffer.byteLength(content), sha256: sha(content), content: Buffer.from(content).toString('base64') });
}

describe('SyncApplier', () => {
  it('coalesces queued writes to the same path (the last one wins)', async () => {
    const { a, root, report } = applier();
    for (let i = 0; i < 50; i++) {
      const content = `v${i}`;
      a.handle({ type: 'file_change', path: 'hot.txt', action: 'write', executable: false, size: content.length, sha256: sha(content), content: Buffer.from(content).toString('base64') });
    }
    await a.close();
    expect(fs.readFileSync(path.join(root, 'hot.txt'), 'utf8')).toBe('v49');
    expect(report.written).toBeLessThan(50);
  });

  it('asks for a pause past the high-water mark and a resume below the low one (by count)', async () => {
    const { a, pressure } = applier();
    for (let i = 0; i < 30_000; i++) a.handle({ type: 'file_change', path: `gone/${i}.txt`, action: 'delete' });
    expect(pressure).toEqual([true]);
    await a.close();
    expect(pressure).toEqual([true, false]);
  });

  it('asks for a pause by bytes too', async () => {
    const { a, pressure } = applier();
    const big = Buffer.alloc(900 * 1024, 1);
    for (let i = 0; i < 60; i++) a.handle({ type: 'file_change', path: `f${i}.bin`, action: 'write', executable: false, size: big.length, sha256: crypto.createHash('sha256').update(big).digest('hex'), content: big.toString('base64') });
    expect(pressure[0]).toBe(true);
    await a.close();
    expect(pressure.at(-1)).toBe(false);
  });

  it('writes the manifest debounced and flushes it on close', async () => {
    const { a, saved } = applier();
    for (let i = 0; i < 20; i++) a.handle({ type: 'file_change', path: `f${i}`, action: 'write', executable: false, size: 1, sha256: sha('x'), content: Buffer.from('x').toString('base64') });
    await a.close();
    expect(saved.length).toBeGreaterThanOrEqual(1);
    expect(saved.length).toBeLessThan(20);
    expect(saved.at(-1)).toBe(20);
  });

  it('applies a burst across directories, every file whole and counted', async () => {
    const { a, root, report, manifest } = applier();
    for (let i = 0; i < 300; i++) write(a, `d${i % 3}/sub${i % 7}/f${i}.txt`, `content ${i}\n`.repeat(i % 50));
    await a.close();
    for (let i = 0; i < 300; i++) expect(fs.readFileSync(path.join(root, `d${i % 3}/sub${i % 7}/f${i}.txt`), 'utf8')).toBe(`content ${i}\n`.repeat(i % 50));
    expect(report.written).toBe(300);
    expect(manifest.get('d2/sub6/f293.txt')?.sha256).toBe(sha(`content 293\n`.repeat(43)));
    expect(fs.readdirSync(path.join(root, 'd0/sub0')).filter((n) => n.includes('catty-tmp'))).toEqual([]);
  });

  it('writes a name near the 255-byte limit (80 CJK characters), and its conflict copy (case 55)', async () => {
    const { a, root, report } = applier();
    const name = `${'漢'.repeat(80)}.txt`; // 244 bytes
    write(a, name, 'first');
    await a.close();
    expect(fs.readFileSync(path.join(root, name), 'utf8')).toBe('first');
    // The user edits it; the session writes it too: the session's version goes to a copy.
    const second = applier();
    fs.writeFileSync(path.join(second.root, name), 'the user');
    second.manifest.set(name, { sha256: sha('base'), executable: false });
    write(second.a, name, 'the session');
    await second.a.close();
    const copies = fs.readdirSync(second.root).filter((n) => n.includes('.catty-conflict-'));
    expect(copies).toHaveLength(1);
    expect(Buffer.byteLength(copies[0]!)).toBeLessThanOrEqual(255);
    expect(fs.readFileSync(path.join(second.root, copies[0]!), 'utf8')).toBe('the session');
    expect(fs.readFileSync(path.join(second.root, name), 'utf8')).toBe('the user');
    expect(report.written).toBe(1);
  });

  it('writes unrelated files at once: one queued behind a write in flight does not wait for it', async () => {
    const { a, root, report } = applier();
    const wrote: string[] = [];
    // The first file may only commit once the second is written (or after 2 s: then the order
    // below shows they ran one after the other).
    let releaseFirst = () => {};
    const firstMayCommit = new Promise<void>((resolve) => {
      releaseFirst = resolve;
      setTimeout(resolve, 2000).unref();
    });
    const place = TempFile.prototype.place;
    vi.spyOn(TempFile.prototype, 'place').mockImplementation(async function (this: TempFile, target, stamp) {
      if (target.endsWith('first.txt')) await firstMayCommit;
      return place.call(this, target, stamp);
    });
    vi.spyOn(report, 'log').mockImplementation((line) => {
      wrote.push(line);
      if (line === 'wrote second.txt') releaseFirst();
    });
    try {
      write(a, 'first.txt', 'first');
      write(a, 'second.txt', 'second');
      await a.close();
    } finally {
      vi.restoreAllMocks();
    }
    expect(wrote).toEqual(['wrote second.txt', 'wrote first.txt']);
    expect(fs.readFileSync(path.join(root, 'first.txt'), 'utf8')).toBe('first');
    expect(fs.readFileSync(path.join(root, 'second.txt'), 'utf8')).toBe('second');
  });

  it('a write to a path already being written waits for it: the later content wins', async () => {
    const { a, root } = applier();
    const big = 'x'.repeat(8 * 1024 * 1024);
    write(a, 'p.txt', big); // slow: in flight when the small one arrives
    await new Promise((r) => setImmediate(r));
    write(a, 'P.TXT', 'case-folded twin'); // the same file on a case-insensitive disk
    write(a, 'p.txt', 'small');
    await a.close();
    expect(fs.readFileSync(path.join(root, 'p.txt'), 'utf8')).toBe('small');
  });

  it('a file and a path inside it are not written at once (one of them is refused, as in order)', async () => {
    const { a, root, report } = applier();
    write(a, 'd', 'a file named d');
    write(a, 'd/x.txt', 'inside d');
    await a.close();
    expect(fs.readFileSync(path.join(root, 'd'), 'utf8')).toBe('a file named d');
    expect(report.refused.map((r) => r.path)).toEqual(['d/x.txt']);
  });

  it('a session file named like a conflict copy does not race the conflict copy', async () => {
    const { a, root, manifest } = applier();
    fs.writeFileSync(path.join(root, 'app.ts'), 'local edit');
    manifest.set('app.ts', { sha256: sha('uploaded'), executable: false });
    write(a, 'app.ts', 'session version');
    write(a, 'app.catty-conflict-l-1.ts', 'a session file with that name');
    await a.close();
    expect(fs.readFileSync(path.join(root, 'app.ts'), 'utf8')).toBe('local edit');
    const names = fs.readdirSync(root).sort();
    expect(names).toEqual(['app.catty-conflict-l-1.catty-conflict-l-1.ts', 'app.catty-conflict-l-1.ts', 'app.ts']);
    expect(fs.readFileSync(path.join(root, 'app.catty-conflict-l-1.ts'), 'utf8')).toBe('session version');
  });

  it('a chunked write is decided when its last chunk is in: a file the user edits meanwhile is kept', async () => {
    const { a, root, manifest, report } = applier();
    fs.writeFileSync(path.join(root, 'big.bin'), 'uploaded');
    manifest.set('big.bin', { sha256: sha('uploaded'), executable: false });
    const content = 'the session version, in two chunks';
    a.handle({ type: 'file_change', path: 'big.bin', action: 'write', executable: false, size: content.length, sha256: sha(content), chunks: 2, transfer: 7 });
    a.handle({ type: 'file_chunk', transfer: 7, index: 0, data: Buffer.from(content.slice(0, 10)).toString('base64') });
    await a.idle();
    fs.writeFileSync(path.join(root, 'big.bin'), 'edited while the chunks came');
    a.handle({ type: 'file_chunk', transfer: 7, index: 1, data: Buffer.from(content.slice(10)).toString('base64') });
    await a.close();
    expect(fs.readFileSync(path.join(root, 'big.bin'), 'utf8')).toBe('edited while the chunks came');
    expect(fs.readFileSync(path.join(root, 'big.catty-conflict-l-1.bin'), 'utf8')).toBe(content);
    expect(report.conflicts).toEqual(['big.bin']);
    expect(fs.readdirSync(root).filter((n) => n.includes('catty-tmp'))).toEqual([]);
  });

  it('names conflict copies <name>.catty-conflict-<label><.ext>', () => {
    expect(conflictPath('/p/src/app.ts', 'x-1')).toBe('/p/src/app.catty-conflict-x-1.ts');
    expect(conflictPath('/p/Makefile', 'x-1')).toBe('/p/Makefile.catty-conflict-x-1');
    expect(conflictPath('/p/.env', 'x-1')).toBe('/p/.env.catty-conflict-x-1');
    expect(conflictPath('/p/a.tar.gz', 'x-1')).toBe('/p/a.tar.catty-conflict-x-1.gz');
  });
});
