import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import yauzl from 'yauzl';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { walkWorkspace } from '../../cli/packer/walk.js';
import { uploadWorkspace } from '../../cli/packer/upload.js';
import { FakeRuntime } from '../helpers/fake-runtime.js';
import { tempDir } from '../helpers/temp-dir.js';

function write(root: string, rel: string, content: string | Buffer, mode = 0o644): void {
  const file = path.join(root, rel);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, content, { mode });
}

function tree(): string {
  const root = tempDir('pack');
  write(root, 'src/app.ts', 'export const value = 1;\n'.repeat(20));
  write(root, 'run.sh', '#!/bin/sh\necho hi\n', 0o755);
  write(root, '.gitignore', '*.log\nbuild/\n');
  write(root, 'debug.log', 'x');
  write(root, 'build/out.js', 'x');
  write(root, 'sub/.gitignore', '*.tmp\n!keep.tmp\n');
  write(root, 'sub/a.tmp', 'x');
  write(root, 'sub/keep.tmp', 'kept');
  write(root, 'sub/deeper/b.tmp', 'x');
  write(root, 'docs/.cattyignore', 'secret-notes.md\n');
  write(root, 'docs/secret-notes.md', 'x');
  write(root, 'docs/readme.md', 'y');
  write(root, 'node_modules/pkg/index.js', 'x');
  write(root, '.venv/bin/python', 'x');
  write(root, 'pkg/__pycache__/m.pyc', 'x');
  write(root, 'm.pyc', 'x');
  write(root, '.DS_Store', 'x');
  write(root, '.env', 'SECRET=1');
  write(root, '.env.local', 'SECRET=1');
  write(root, '.env.example', 'SECRET=');
  write(root, '.git/HEAD', 'ref: refs/heads/main\n');
  write(root, '.git/config', '[core]\n');
  fs.symlinkSync('/etc/passwd', path.join(root, 'link-out'));
  fs.symlinkSync('src', path.join(root, 'link-dir'));
  return root;
}

describe('walkWorkspace', () => {
  it('honours defaults, nested .gitignore with negations, .cattyignore, and skips symlinks', async () => {
    const root = tree();
    const walk = await walkWorkspace(root, { ignoreGit: false });
    expect(walk.files.map((f) => f.rel)).toEqual([
      '.env.example',
      '.git/HEAD',
      '.git/config',
      '.gitignore',
      'docs/.cattyignore',
      'docs/readme.md',
      'run.sh',
      'src/app.ts',
      'sub/.gitignore',
      'sub/keep.tmp',
    ]);
    expect(walk.skippedSymlinks.sort()).toEqual(['link-dir', 'link-out']);
    expect(walk.files.find((f) => f.rel === 'run.sh')?.executable).toBe(true);
  });

  it('leaves .git out with --no-git', async () => {
    const walk = await walkWorkspace(tree(), { ignoreGit: true });
    expect(walk.files.some((f) => f.rel.startsWith('.git/'))).toBe(false);
    expect(walk.files.some((f) => f.rel === '.gitignore')).toBe(true);
  });
});

async function unzip(buffer: Buffer): Promise<Map<string, { data: Buffer; mode: number; compression: number }>> {
  const zip = await new Promise<yauzl.ZipFile>((resolve, reject) => yauzl.fromBuffer(buffer, { lazyEntries: true }, (e, z) => (e ? reject(e) : resolve(z))));
  const out = new Map<string, { data: Buffer; mode: number; compression: number }>();
  await new Promise<void>((resolve, reject) => {
    zip.on('entry', (entry: yauzl.Entry) => {
      zip.openReadStream(entry, (err, stream) => {
        if (err) return reject(err);
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          const data = Buffer.concat(chunks);
          // yauzl checks sizes but not the CRC: check it here.
          if (zlib.crc32(data) !== entry.crc32) return reject(new Error(`bad crc32 for ${entry.fileName}`));
          out.set(entry.fileName, { data, mode: (entry.externalFileAttributes >>> 16) & 0o777, compression: entry.compressionMethod });
          zip.readEntry();
        });
      });
    });
    zip.on('end', resolve);
    zip.on('error', reject);
    zip.readEntry();
  });
  return out;
}

describe('uploadWorkspace', () => {
  let runtime: FakeRuntime;
  beforeAll(async () => {
    runtime = await FakeRuntime.start();
  });
  afterAll(async () => runtime.close());

  it('streams a zip with the right files, modes, stored entries and a sha256 manifest', async () => {
    const root = tree();
    write(root, 'img/photo.png', crypto.randomBytes(5000));
    write(root, 'big/blob.bin', Buffer.alloc(3 * 1024 * 1024, 7)); // above the read-whole threshold: streamed
    write(root, 'big/archive.zip', crypto.randomBytes(2 * 1024 * 1024 + 17)); // streamed and stored
    const walk = await walkWorkspace(root, { ignoreGit: false });
    const outcome = await uploadWorkspace(walk, { connectUrl: runtime.url, connectToken: runtime.token, cols: 100, rows: 30, maxBytes: 100 * 1024 * 1024 });
    expect(runtime.uploadQuery?.get('cols')).toBe('100');
    const zip = await unzip(runtime.uploads.at(-1) as Buffer);
    expect([...zip.keys()].sort()).toEqual(walk.files.map((f) => f.rel).sort());
    expect(zip.get('run.sh')?.mode).toBe(0o755);
    expect(zip.get('src/app.ts')?.mode).toBe(0o644);
    expect(zip.get('img/photo.png')?.compression).toBe(0); // stored
    expect(zip.get('src/app.ts')?.compression).toBe(8); // deflated
    expect(zip.get('big/blob.bin')?.data.equals(fs.readFileSync(path.join(root, 'big/blob.bin')))).toBe(true);
    expect(zip.get('big/blob.bin')?.compression).toBe(8);
    expect(zip.get('big/archive.zip')?.data.equals(fs.readFileSync(path.join(root, 'big/archive.zip')))).toBe(true);
    expect(zip.get('big/archive.zip')?.compression).toBe(0);
    for (const file of walk.files) {
      const sha = crypto.createHash('sha256').update(fs.readFileSync(file.abs)).digest('hex');
      expect(outcome.manifest.get(file.rel)).toEqual({ sha256: sha, executable: file.executable });
    }
  });

  it('stops at the size cap and names the largest paths', async () => {
    const root = tempDir('pack');
    write(root, 'huge/random-a.bin', crypto.randomBytes(600 * 1024));
    write(root, 'huge/random-b.bin', crypto.randomBytes(500 * 1024));
    write(root, 'small.txt', 'x');
    const walk = await walkWorkspace(root, { ignoreGit: false });
    const before = runtime.uploads.length;
    await expect(uploadWorkspace(walk, { connectUrl: runtime.url, connectToken: runtime.token, cols: 80, rows: 24, maxBytes: 512 * 1024 })).rejects.toMatchObject({
      message: expect.stringContaining('upload cap'),
      details: [expect.stringMatching(/huge\/random-a\.bin$/), expect.stringMatching(/huge\/random-b\.bin$/), expect.stringMatching(/small\.txt$/)],
    });
    // Whatever reached the runtime is not a complete zip.
    const partial = runtime.uploads[before];
    if (partial) await expect(unzip(partial)).rejects.toThrow();
  });

  it('reports a runtime refusal', async () => {
    const refusing = await FakeRuntime.start({ uploadStatus: 409 });
    try {
      const walk = await walkWorkspace(tree(), { ignoreGit: true });
      await expect(uploadWorkspace(walk, { connectUrl: refusing.url, connectToken: refusing.token, cols: 80, rows: 24, maxBytes: 1e9 })).rejects.toThrow(/refused the upload/);
    } finally {
      await refusing.close();
    }
  });
});
