/**
 * A snapshot of a workspace the agent is writing to: a file deleted before the archive reached it,
 * or cut shorter than the header the archive had already written, makes the archive read the tree
 * again instead of losing the snapshot until the next one.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import * as tar from 'tar';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import http from 'node:http';
import type { ApiCallbacks } from '../../session-runtime/callbacks.js';
import { buildSnapshot } from '../../session-runtime/snapshot-archive.js';
import { Snapshotter } from '../../session-runtime/snapshots.js';
import { closeServer, listenLoopback } from '../helpers/loopback.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait.js';

let root: string;
let tmp: string;
const savedTmpdir = process.env.TMPDIR;

beforeEach(() => {
  root = tempDir('snap-src');
  // buildSnapshot writes into os.tmpdir(): a private one shows this test when an archive began.
  tmp = tempDir('snap-tmp');
  process.env.TMPDIR = tmp;
});
afterEach(() => {
  if (savedTmpdir === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = savedTmpdir;
});

/**
 * A tree whose first entry takes the archive about a second to compress (random bytes); then
 * `b-shrinks`, 8 MB, stat'ed with it (node-tar stats four entries ahead) and read 1 MiB at a time
 * as the archive takes it; five small files; and `z-victim`, stat'ed once the big file is written.
 */
function writeTree(): string {
  const big = randomBytes(24 * 1024 * 1024);
  fs.writeFileSync(path.join(root, 'a-big.bin'), big);
  fs.writeFileSync(path.join(root, 'b-shrinks.txt'), 'long line\n'.repeat(800_000));
  for (let i = 1; i <= 5; i++) fs.writeFileSync(path.join(root, `c${i}.txt`), `file ${i}\n`);
  fs.writeFileSync(path.join(root, 'z-victim.txt'), 'soon gone\n');
  return createHash('sha256').update(big).digest('hex');
}

/** Resolves once an archive has written its first bytes into the private temp dir. */
async function archiveStarted(): Promise<void> {
  const begun = (): boolean => fs.readdirSync(tmp).some((dir) => (fs.statSync(path.join(tmp, dir, 'snapshot.tar.gz'), { throwIfNoEntry: false })?.size ?? 0) > 0);
  await waitFor(begun, 'an archive to begin', { timeoutMs: 10_000, everyMs: 2 });
}

async function extract(file: string): Promise<Map<string, Buffer>> {
  const out = fs.mkdtempSync(path.join(tmp, 'out-'));
  await tar.x({ file, cwd: out });
  return new Map(fs.readdirSync(out).map((name) => [name, fs.readFileSync(path.join(out, name))]));
}

const changes = {
  'deleted before the archive reached it': () => fs.rmSync(path.join(root, 'z-victim.txt')),
  'cut shorter than its header said': () => fs.writeFileSync(path.join(root, 'b-shrinks.txt'), 'short\n'),
};

describe('buildSnapshot of a tree that changes while it is read', () => {
  it.each(Object.entries(changes))('reads the tree again when a file is %s', async (_name, change) => {
    const bigSha = writeTree();
    const building = buildSnapshot(root);
    await archiveStarted();
    change();
    const snap = await building;
    expect(snap).not.toBeNull();
    try {
      expect(snap!.reads).toBe(2);
      const files = await extract(snap!.file);
      expect(createHash('sha256').update(files.get('a-big.bin')!).digest('hex')).toBe(bigSha);
      expect(files.get('c3.txt')?.toString()).toBe('file 3\n');
      // The archive holds the tree as the second read found it.
      expect(files.get('b-shrinks.txt')?.toString()).toBe(fs.readFileSync(path.join(root, 'b-shrinks.txt'), 'utf8'));
      expect(files.has('z-victim.txt')).toBe(fs.existsSync(path.join(root, 'z-victim.txt')));
    } finally {
      await snap!.cleanup();
    }
    expect(fs.readdirSync(tmp).filter((name) => name.startsWith('catty-snapshot-'))).toEqual([]);
  });

  it('gives up with a clear error after its last read, leaving no temp file', async () => {
    writeTree();
    const building = buildSnapshot(root, 1);
    await archiveStarted();
    changes['deleted before the archive reached it']();
    await expect(building).rejects.toThrow(/files changed under its read of the workspace \(last: ENOENT.*z-victim\.txt/);
    expect(fs.readdirSync(tmp)).toEqual([]);
  });

  it('reads an unchanging tree once', async () => {
    writeTree();
    const snap = await buildSnapshot(root);
    expect(snap?.reads).toBe(1);
    await snap?.cleanup();
  });
});

describe('Snapshotter and a tree whose fingerprint moved but whose archive did not', () => {
  it('stores no second copy of the same archive', async () => {
    fs.writeFileSync(path.join(root, 'a.txt'), 'same bytes\n');
    fs.utimesSync(path.join(root, 'a.txt'), 1_700_000_000, 1_700_000_000);
    const puts: number[] = [];
    const storage = http.createServer((req, res) => {
      let n = 0;
      req.on('data', (chunk: Buffer) => (n += chunk.length));
      req.on('end', () => {
        puts.push(n);
        res.end();
      });
    });
    const url = `${(await listenLoopback(storage)).url}/obj`;
    const reports: unknown[] = [];
    const api: ApiCallbacks = {
      presign: async () => ({ key: `k${reports.length}`, url, headers: {} }),
      reportSnapshot: async (report) => void reports.push(report),
      heartbeat: async () => undefined,
      logs: async () => undefined,
      exit: async () => undefined,
    };
    try {
      const snapshots = new Snapshotter(root, api, 600_000);
      expect(await snapshots.snapshotNow()).toBe('uploaded');
      // Half a second later, same second in the archive (tar keeps whole seconds): the
      // fingerprint (mtime in ms) changed, the archive is the same bytes.
      fs.utimesSync(path.join(root, 'a.txt'), 1_700_000_000.5, 1_700_000_000.5);
      expect(await snapshots.snapshotNow()).toBe('unchanged');
      expect(await snapshots.snapshotNow()).toBe('unchanged');
      fs.writeFileSync(path.join(root, 'a.txt'), 'other bytes\n');
      expect(await snapshots.snapshotNow()).toBe('uploaded');
      expect(reports).toHaveLength(2);
      expect(puts).toHaveLength(2);
      expect(snapshots.stats).toEqual({ uploaded: 2, unchanged: 2, failed: 0 });
    } finally {
      await closeServer(storage);
    }
  });
});
