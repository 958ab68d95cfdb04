/**
 * The upload's fast path (session-runtime/upload/stream-extract.ts + zip-stream.ts): archives
 * from the CLI's own writer extract while they arrive, in any chunking; anything doubtful makes
 * it give up and leave nothing behind (the ordinary path, tested in tests/security/archives,
 * then decides).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { walkWorkspace } from '../../cli/packer/walk.js';
import { zipFiles } from '../../cli/packer/zip.js';
import { METHOD_DEFLATE, centralHeader, dataDescriptor, dosDateTime, endOfCentralDirectory, localHeader, type EntryRecord } from '../../cli/packer/zip-format.js';
import { StreamExtractor, type StreamOutcome } from '../../session-runtime/upload/stream-extract.js';
import { DEFAULT_ZIP_LIMITS } from '../../session-runtime/upload/zip-plan.js';
import { buildZip } from '../helpers/runtime-zip.js';
import { tempDir } from '../helpers/temp-dir.js';

/** Feeds `zip` in pieces of random length (1..maxPiece bytes, seeded). */
async function extract(zip: Buffer, workspace: string, maxPiece = 64 * 1024, maxTotalBytes = 64 * 1024 * 1024): Promise<{ outcome: StreamOutcome; extractor: StreamExtractor }> {
  let seed = 7;
  const pieces: Buffer[] = [];
  for (let at = 0; at < zip.length; ) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    const n = 1 + (seed % maxPiece);
    pieces.push(zip.subarray(at, at + n));
    at += n;
  }
  const extractor = new StreamExtractor(workspace, { ...DEFAULT_ZIP_LIMITS, maxTotalBytes });
  await pipeline(Readable.from(pieces), extractor);
  return { outcome: await extractor.outcome, extractor };
}

function tree(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string, rel: string): void => {
    for (const name of fs.readdirSync(dir).sort()) {
      const abs = path.join(dir, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = fs.lstatSync(abs);
      if (st.isDirectory()) walk(abs, r);
      else out[r] = `${(st.mode & 0o777).toString(8)} ${crypto.createHash('sha256').update(fs.readFileSync(abs)).digest('hex')}`;
    }
  };
  walk(root, '');
  return out;
}

async function cliZip(root: string): Promise<Buffer> {
  const walk = await walkWorkspace(root, { ignoreGit: true });
  const chunks: Buffer[] = [];
  for await (const chunk of zipFiles(walk.files).stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** An archive whose one entry is deflated with a data descriptor (flag bit 3), as the CLI's
 * writer streams a large file. */
function describedZip(name: string, data: Buffer, level = 1): Buffer {
  const body = zlib.deflateRawSync(data, { level });
  const when = dosDateTime(new Date());
  const record: EntryRecord = { name: Buffer.from(name), method: METHOD_DEFLATE, crc32: zlib.crc32(data), compressedSize: body.length, size: data.length, offset: 0, mode: 0o644, streamed: true };
  const local = Buffer.concat([localHeader(record, when), body, dataDescriptor(record)]);
  const central = centralHeader(record, when);
  return Buffer.concat([local, central, endOfCentralDirectory(1, central.length, local.length)]);
}

describe('upload fast path: extraction while the zip arrives', () => {
  it("extracts the CLI writer's archive (small, deflated-streamed, stored-streamed, empty, executable) in any chunking", async () => {
    const src = tempDir('src');
    fs.mkdirSync(path.join(src, 'a/b/c'), { recursive: true });
    fs.writeFileSync(path.join(src, 'README.md'), '# hello\n'.repeat(100));
    fs.writeFileSync(path.join(src, 'a/b/c/deep.ts'), 'export const x = 1;\n');
    fs.writeFileSync(path.join(src, 'a/empty'), '');
    fs.writeFileSync(path.join(src, 'run.sh'), '#!/bin/sh\necho hi\n', { mode: 0o755 });
    fs.chmodSync(path.join(src, 'run.sh'), 0o755);
    const small = await cliZip(src);
    // Large entries stream through the writer with a data descriptor: one deflated, one stored.
    fs.writeFileSync(path.join(src, 'a/big.txt'), crypto.randomBytes(1_200_000).toString('hex'));
    fs.writeFileSync(path.join(src, 'a/photo.png'), crypto.randomBytes(1536 * 1024));
    const large = await cliZip(src);
    const paths = ['README.md', 'a/b/c/deep.ts', 'a/big.txt', 'a/empty', 'a/photo.png', 'run.sh'];
    // Pieces of 1–7 bytes split every header and descriptor; larger ones cross entries.
    for (const [zip, maxPiece, files] of [[small, 7, 4], [large, 4096, 6], [large, 64 * 1024, 6]] as const) {
      const ws = tempDir('ws');
      const { outcome } = await extract(zip, ws, maxPiece);
      expect(outcome.ok).toBe(true);
      if (!outcome.ok) continue;
      expect(outcome.result.files).toBe(files);
      expect(outcome.result.paths.sort()).toEqual(files === 6 ? paths : paths.filter((p) => !p.startsWith('a/big') && !p.startsWith('a/photo')));
      expect(outcome.result.bytes).toBe(8 * 100 + 20 + 0 + 18 + (files === 6 ? 2_400_000 + 1536 * 1024 : 0));
      if (files === 6) expect(tree(ws)).toEqual(tree(src));
      expect(fs.statSync(path.join(ws, 'run.sh')).mode & 0o111).not.toBe(0);
    }
  });

  it('finds a deflated entry’s end even when its data holds a descriptor look-alike', async () => {
    // Stored deflate blocks (level 0) carry the bytes verbatim: the signature appears in the data.
    const fake = Buffer.alloc(16);
    fake.writeUInt32LE(0x08074b50, 0);
    fake.writeUInt32LE(12345, 8);
    const data = Buffer.concat([crypto.randomBytes(5000), fake, crypto.randomBytes(5000)]);
    const ws = tempDir('ws');
    const { outcome } = await extract(describedZip('f.bin', data, 0), ws, 97);
    expect(outcome).toEqual({ ok: true, result: { files: 1, bytes: data.length, paths: ['f.bin'] } });
    expect(fs.readFileSync(path.join(ws, 'f.bin')).equals(data)).toBe(true);
  });

  const giveUps: Array<[string, () => Buffer, RegExp]> = [
    ['a symlink entry', () => buildZip([{ name: 'ok.txt', data: 'a' }, { name: 'link', data: '/etc/passwd', mode: 0o120777 }]), /symlink/],
    ['a path escaping the workspace', () => buildZip([{ name: 'ok.txt', data: 'a' }, { name: '../x', data: 'evil' }]), /Refused entry/],
    ['a size that lies', () => buildZip([{ name: 'ok.txt', data: 'abc', declaredSize: 2 }]), /declared|larger/],
    ['a bad CRC', () => buildZip([{ name: 'ok.txt', data: 'abc', crc: 1 }]), /CRC/],
    ['names colliding after case folding', () => buildZip([{ name: 'A.txt', data: 'a' }, { name: 'a.txt', data: 'b' }]), /collides/],
    [
      'a central directory naming another file',
      () => {
        const zip = buildZip([{ name: 'one.txt', data: 'a' }]);
        const at = zip.lastIndexOf(Buffer.from('one.txt'));
        Buffer.from('two.txt').copy(zip, at);
        return zip;
      },
      /disagrees/,
    ],
    [
      'a stored entry of unknown size',
      () => {
        const zip = buildZip([{ name: 'ok.txt', data: 'abc' }]);
        zip.writeUInt16LE(0x0808, 6);
        zip.writeUInt32LE(0, 18);
        zip.writeUInt32LE(0, 22);
        return zip;
      },
      /unknown size/,
    ],
    ['a truncated archive', () => buildZip([{ name: 'ok.txt', data: 'abc' }, { name: 'b.txt', data: 'def' }]).subarray(0, 60), /ended early/],
    ['bytes after the end', () => Buffer.concat([buildZip([{ name: 'ok.txt', data: 'abc' }]), Buffer.from('junk')]), /after the end/],
  ];
  for (const [what, make, reason] of giveUps) {
    it(`gives up on ${what} and its rollback leaves nothing behind`, async () => {
      // The workspace in a parent of its own: '../x' would land there, and nothing else writes it.
      const ws = path.join(tempDir('ws-parent'), 'ws');
      fs.mkdirSync(ws);
      const { outcome, extractor } = await extract(make(), ws, 5);
      expect(outcome.ok).toBe(false);
      expect(outcome.ok ? '' : outcome.reason).toMatch(reason);
      await extractor.rollback();
      expect(fs.readdirSync(ws)).toEqual([]);
      expect(fs.existsSync(path.join(path.dirname(ws), 'x'))).toBe(false);
    });
  }

  it('gives up past the size cap before writing more than the cap', async () => {
    const ws = tempDir('ws');
    const data = Buffer.alloc(3 * 1024 * 1024, 1);
    const { outcome, extractor } = await extract(describedZip('bomb.bin', data), ws, 64 * 1024, 1024 * 1024);
    expect(outcome).toMatchObject({ ok: false, reason: expect.stringMatching(/larger than declared/) });
    expect(fs.statSync(path.join(ws, 'bomb.bin')).size).toBeLessThanOrEqual(1024 * 1024);
    await extractor.rollback();
    expect(fs.readdirSync(ws)).toEqual([]);
  });
});
