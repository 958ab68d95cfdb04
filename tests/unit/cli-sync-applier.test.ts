import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SyncApplier } from '../../cli/sync/applier.js';
import { SyncReport } from '../../cli/sync/report.js';
import { ManifestStore } from '../../cli/sessions/store.js';
import { conflictPath } from '../../cli/sync/local-fs.js';
import { tempDir } from '../helpers/cli.js';

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

  it('names conflict copies <name>.catty-conflict-<label><.ext>', () => {
    expect(conflictPath('/p/src/app.ts', 'x-1')).toBe('/p/src/app.catty-conflict-x-1.ts');
    expect(conflictPath('/p/Makefile', 'x-1')).toBe('/p/Makefile.catty-conflict-x-1');
    expect(conflictPath('/p/.env', 'x-1')).toBe('/p/.env.catty-conflict-x-1');
    expect(conflictPath('/p/a.tar.gz', 'x-1')).toBe('/p/a.tar.catty-conflict-x-1.gz');
  });
});
