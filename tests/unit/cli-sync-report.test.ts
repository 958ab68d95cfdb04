import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SyncApplier } from '../../cli/sync/applier.js';
import { SyncReport } from '../../cli/sync/report.js';
import { ManifestStore } from '../../cli/sessions/store.js';
import { tempDir } from '../helpers/temp-dir.js';

const sha = (s: string) => crypto.createHash('sha256').update(s).digest('hex');

/** How many summary lines name `rel` as an item (the indented list entries). */
const listed = (lines: string[], rel: string) => lines.filter((l) => l.startsWith('    ') && l.trim().startsWith(rel)).length;

describe('SyncReport', () => {
  it('lists each file once, whatever number of messages it took', () => {
    const report = new SyncReport(null);
    report.conflict('src/app.ts');
    report.conflict('src/app.ts');
    report.keptDelete('notes.md');
    report.keptDelete('notes.md');
    report.refuse('bad.txt', 'parent d is a symlink');
    report.refuse('bad.txt', 'parent d is a symlink');
    report.skip('video.mp4', 'too large (9 bytes)');
    report.skip('video.mp4', 'too large (10 bytes)');
    for (let i = 0; i < 3; i++) report.wrote('hot.txt');
    const lines = report.summary('l-1', null);
    expect(lines[0]).toBe('sync-back: 1 written, 0 deleted, 1 conflicts, 1 refused');
    for (const rel of ['src/app.ts', 'notes.md', 'bad.txt', 'video.mp4']) expect(listed(lines, rel), rel).toBe(1);
    expect(lines).toContain('    video.mp4: too large (10 bytes)');
  });

  it("counts a path's latest outcome: refused then written is written; written then deleted is deleted", () => {
    const report = new SyncReport(null);
    report.refuse('a.txt', 'error: EACCES');
    report.wrote('a.txt');
    report.wrote('b.txt');
    report.removed('b.txt');
    expect(report.written).toBe(1);
    expect(report.deleted).toBe(1);
    expect(report.refused).toEqual([]);
    expect(report.summary('l-1', null)[0]).toBe('sync-back: 1 written, 1 deleted, 0 conflicts, 0 refused');
  });

  it('through the applier: a locally edited file the session changes twice is one conflict', async () => {
    const root = tempDir('report');
    fs.writeFileSync(path.join(root, 'app.ts'), 'my edit');
    const manifest = new ManifestStore(new Map([['app.ts', { sha256: sha('uploaded'), executable: false }]]), () => undefined);
    const report = new SyncReport(null);
    const applier = new SyncApplier({ root, label: 'l-1', manifest, report });
    for (const content of ['session v1', 'session v2']) {
      applier.handle({ type: 'file_change', path: 'app.ts', action: 'write', executable: false, size: content.length, sha256: sha(content), content: Buffer.from(content).toString('base64') });
      await applier.idle();
    }
    await applier.close();
    expect(fs.readFileSync(path.join(root, 'app.catty-conflict-l-1.ts'), 'utf8')).toBe('session v2');
    const lines = report.summary('l-1', null);
    expect(lines[0]).toBe('sync-back: 0 written, 0 deleted, 1 conflicts, 0 refused');
    expect(listed(lines, 'app.ts')).toBe(1);
  });
});
