import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SyncLog } from '../../cli/sync/sync-log.js';
import { LOGGED_MAX, SyncReport, TRACKED_MAX } from '../../cli/sync/report.js';
import { tempDir } from '../helpers/temp-dir.js';

describe('SyncLog (SECURITY.md 48)', () => {
  it('rotates past its cap into one older file: never more than two files, the newest lines in the current one', () => {
    const dir = tempDir('sync-log');
    const file = path.join(dir, 'logs', 'l-1.log');
    const log = new SyncLog(file, 10_000);
    for (let i = 0; i < 5_000; i++) {
      log.write(`line ${String(i).padStart(5, '0')} ${'x'.repeat(40)}\n`);
      if (i % 100 === 99) log.flush();
    }
    log.close();
    expect(fs.readdirSync(path.dirname(file)).sort()).toEqual(['l-1.log', 'l-1.log.1']);
    for (const name of ['l-1.log', 'l-1.log.1']) expect(fs.statSync(path.join(path.dirname(file), name)).size).toBeLessThanOrEqual(10_000);
    expect(fs.readFileSync(file, 'utf8').trimEnd().split('\n').at(-1)).toMatch(/^line 04999 /);
    const older = fs.readFileSync(`${file}.1`, 'utf8').trimEnd().split('\n');
    const current = fs.readFileSync(file, 'utf8').trimEnd().split('\n');
    expect(Number(current[0]?.slice(5, 10))).toBe(Number(older.at(-1)?.slice(5, 10)) + 1);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
  });

  it('a new attach appends to the current file and rotates it when full', () => {
    const dir = tempDir('sync-log');
    const file = path.join(dir, 'l-1.log');
    fs.writeFileSync(file, 'y'.repeat(9_990));
    const log = new SyncLog(file, 10_000);
    log.write('a line that does not fit\n');
    log.close();
    expect(fs.readFileSync(`${file}.1`, 'utf8')).toBe('y'.repeat(9_990));
    expect(fs.readFileSync(file, 'utf8')).toBe('a line that does not fit\n');
  });
});

describe('SyncReport bounds (SECURITY.md 48)', () => {
  it('keeps the first paths, counts the rest, and logs refusals one by one only up to its cap', async () => {
    const dir = tempDir('sync-report');
    const file = path.join(dir, 'l-1.log');
    const report = new SyncReport(file);
    const n = TRACKED_MAX * 3;
    for (let i = 0; i < n; i++) report.refuse(`bad/${i}`, 'refused for the test');
    for (let i = 0; i < n; i++) report.skip(`big/${i}`, 'too large');
    report.wrote('bad/0'); // a tracked path's latest outcome still counts once
    expect(report.refused.length).toBeLessThanOrEqual(TRACKED_MAX);
    expect(report.refusedCount).toBe(n - 1);
    expect(report.skippedCount).toBe(n);
    const lines = report.summary('l-1', file);
    expect(lines[0]).toBe(`sync-back: 1 written, 0 deleted, 0 conflicts, ${n - 1} refused (past the first ${TRACKED_MAX} files, counted per message)`);
    expect(lines).toContain(`    … and ${n - 1 - 10} more`);
    expect(lines).toContain(`    … and ${n} more`); // the skipped came after the tracked paths were all taken
    await report.close();
    const logged = fs.readFileSync(file, 'utf8').trimEnd().split('\n');
    expect(logged.length).toBe(LOGGED_MAX + 1);
    expect(logged.at(-1)).toMatch(new RegExp(`… and ${n - LOGGED_MAX} more refused, ${n} more skipped, not logged one by one$`));
  });
});
