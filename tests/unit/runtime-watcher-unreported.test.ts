/**
 * Changes chokidar does not report once the sender has read a file (the read moves its atime past
 * its mtime, and chokidar reports a change only when the mtime moved or the atime is not past it):
 * - a file written by one large write(2), read while the write is still going (the sender reads a
 *   path DEBOUNCE_MS after its event): write(2) sets the mtime when it starts, so chokidar's stat
 *   at the end sees the mtime it already knew. Unreported, the torn copy is what the laptop keeps.
 * - a chmod, which moves only the ctime: the executable bit never reached the laptop.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WorkspaceWatcher } from '../../session-runtime/sync/watcher.js';

const SIZE = 256 * 1024 * 1024;
let root = '';
let watcher: WorkspaceWatcher | null = null;
afterEach(async () => {
  await watcher?.close();
  fs.rmSync(root, { recursive: true, force: true });
});

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
    await until('a read of the whole file', () => reads.at(-1) === SIZE).catch(() => undefined);
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
    await until('the first read', () => reads === 1);
    await new Promise((resolve) => setTimeout(resolve, 100)); // chokidar has stat'ed it since
    fs.chmodSync(file, 0o755);
    await until('a read after the chmod', () => reads === 2);
  });
});

async function until(what: string, ok: () => boolean, ms = 5_000): Promise<void> {
  for (const deadline = Date.now() + ms; !ok(); ) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
