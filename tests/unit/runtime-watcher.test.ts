/**
 * The workspace watcher, real chokidar on a temp directory. Started on an upload's files (a
 * baseline), its initial scan runs while the agent already works, so it must tell the upload's
 * unchanged files from the agent's early writes, creations and deletions; `settle` waits for
 * every change made so far; and changes chokidar leaves unreported are reported all the same.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CTIME_SLACK_MS, SETTLE_QUIET_MS, WorkspaceWatcher } from '../../session-runtime/sync/watcher.js';
import { elapse, waitFor } from '../helpers/wait.js';

let root = '';
let watcher: WorkspaceWatcher | null = null;
afterEach(async () => {
  await watcher?.close();
  fs.rmSync(root, { recursive: true, force: true });
});

describe('WorkspaceWatcher with a baseline', () => {
  it("reports only what changed since the upload, including changes made before the scan saw them", async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'catty-watch-'));
    const uploaded: string[] = [];
    for (let d = 0; d < 5; d++) {
      fs.mkdirSync(path.join(root, `d${d}`));
      for (let f = 0; f < 40; f++) {
        const rel = `d${d}/f${f}.txt`;
        fs.writeFileSync(path.join(root, rel), `${rel}\n`);
        uploaded.push(rel);
      }
    }
    fs.mkdirSync(path.join(root, 'node_modules/pkg'), { recursive: true });
    fs.writeFileSync(path.join(root, 'node_modules/pkg/index.js'), '');
    uploaded.push('node_modules/pkg/index.js');
    await elapse(2 * CTIME_SLACK_MS); // on purpose: the upload's files are older than the baseline's slack
    const writtenAtMs = Date.now();
    // The agent's first moves, before the watcher has looked at anything.
    fs.writeFileSync(path.join(root, 'd1/f3.txt'), 'edited\n');
    fs.rmSync(path.join(root, 'd2/f7.txt'));
    fs.writeFileSync(path.join(root, 'd4/new.txt'), 'new\n');

    const readyPaths: string[] = [];
    watcher = new WorkspaceWatcher(root);
    const scanned = watcher.start(() => undefined, { files: uploaded, writtenAtMs });
    // And one more while the scan runs.
    fs.writeFileSync(path.join(root, 'd0/during.txt'), 'during\n');
    await scanned;
    await watcher.settle(5_000); // every change made so far is in `ready` now
    readyPaths.push(...watcher.ready);
    expect(readyPaths.sort()).toEqual(['d0/during.txt', 'd1/f3.txt', 'd2/f7.txt', 'd4/new.txt']);

    // After the scan: ordinary events.
    watcher.ready.clear();
    fs.writeFileSync(path.join(root, 'd3/f0.txt'), 'later\n');
    await watcher.settle(5_000); // every change made so far is in `ready` now
    expect([...watcher.ready]).toEqual(['d3/f0.txt']);
  });

  it('without a baseline ignores what is there at the start', async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'catty-watch-'));
    fs.writeFileSync(path.join(root, 'old.txt'), 'old\n');
    watcher = new WorkspaceWatcher(root);
    await watcher.start(() => undefined);
    fs.writeFileSync(path.join(root, 'fresh.txt'), 'fresh\n');
    await watcher.settle(5_000); // every change made so far is in `ready` now
    expect([...watcher.ready]).toEqual(['fresh.txt']);
  });
});

describe('WorkspaceWatcher.settle', () => {
  it('waits for files on disk that were not reported yet, however long the silence before', async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'catty-watch-'));
    fs.mkdirSync(path.join(root, 'src'));
    watcher = new WorkspaceWatcher(root);
    await watcher.start(() => undefined);
    // The agent's last act: a new directory of files and one more in an old one...
    fs.mkdirSync(path.join(root, 'out'));
    const expected = ['src/late.txt'];
    fs.writeFileSync(path.join(root, 'src/late.txt'), 'late\n');
    for (let i = 0; i < 200; i++) {
      fs.writeFileSync(path.join(root, `out/f${i}.txt`), `file ${i}\n`);
      expected.push(`out/f${i}.txt`);
    }
    fs.mkdirSync(path.join(root, 'node_modules')); // never watched, never waited for
    fs.writeFileSync(path.join(root, 'node_modules/x.js'), '');
    const settled = watcher.settle(10_000);
    // ...then the runtime gets no CPU for longer than the quiet period: nothing was reported,
    // and nothing happened "lately" as far as the watcher knows.
    const starvedUntil = Date.now() + SETTLE_QUIET_MS + 100;
    while (Date.now() < starvedUntil) {
      /* a loaded machine */
    }
    await settled;
    expect([...watcher.ready].sort()).toEqual(expected.sort());
  });
});

/**
 * Changes chokidar does not report once the sender has read a file (the read moves its atime past
 * its mtime, and chokidar reports a change only when the mtime moved or the atime is not past it):
 * - a file written by one large write(2), read while the write is still going (the sender reads a
 *   path DEBOUNCE_MS after its event): write(2) sets the mtime when it starts, so chokidar's stat
 *   at the end sees the mtime it already knew. Unreported, the torn copy is what the laptop keeps.
 * - a chmod, which moves only the ctime: the executable bit never reached the laptop.
 */
const SIZE = 256 * 1024 * 1024;

describe('WorkspaceWatcher and changes chokidar leaves unreported', () => {
  it('reports a file read while one write(2) filled it again once the write has ended', async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'catty-torn-'));
    const file = path.join(root, 'big.bin');
    const reads: number[] = [];
    // What the sender does with a ready path: take it and read the file (which moves its atime).
    const consume = (): void => {
      if (!watcher!.ready.delete('big.bin')) return;
      reads.push(fs.readFileSync(file).length);
    };
    watcher = new WorkspaceWatcher(root);
    await watcher.start(consume);
    const writer = spawn(process.execPath, ['-e', `require('fs').writeFileSync(${JSON.stringify(file)}, Buffer.alloc(${SIZE}, 1))`], { stdio: 'inherit' });
    const code = await new Promise<number | null>((resolve) => writer.on('exit', resolve));
    expect(code).toBe(0);
    await watcher.settle(10_000);
    await waitFor(() => reads.at(-1) === SIZE, 'a read of the whole file', { timeoutMs: 5_000 }).catch(() => undefined);
    // The first read landed inside the write (else this machine wrote 256 MB within the debounce
    // and the test shows nothing); the last one has the whole file.
    expect(reads[0]).toBeLessThan(SIZE);
    expect(reads.at(-1)).toBe(SIZE);
  });

  it('reports a chmod of a file it has read', async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'catty-chmod-'));
    const file = path.join(root, 'run.sh');
    let reads = 0;
    watcher = new WorkspaceWatcher(root);
    await watcher.start(() => {
      if (!watcher!.ready.delete('run.sh')) return;
      fs.readFileSync(file);
      reads += 1;
    });
    fs.writeFileSync(file, '#!/bin/sh\necho hi\n', { mode: 0o644 });
    await waitFor(() => reads === 1, 'the first read', { timeoutMs: 5_000 });
    await elapse(100); // on purpose: chokidar has stat'ed it since, so the chmod is a change of its own
    fs.chmodSync(file, 0o755);
    await waitFor(() => reads === 2, 'a read after the chmod', { timeoutMs: 5_000 });
  });
});
