/**
 * POST /upload against the built catty-session: the happy path, and every archive case of
 * SECURITY.md 1–8 rejected whole with nothing left behind. Hostile zips are crafted here.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { ZipArchive } from 'archiver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestClient, agentCmd, startRuntime, upload, type RuntimeProcess } from '../helpers/runtime.js';
import { buildZip, type RawEntry } from '../helpers/runtime-zip.js';

async function archiverZip(files: { name: string; data: string | Buffer; mode?: number }[]): Promise<Buffer> {
  const archive = new ZipArchive({ zlib: { level: 1 } });
  const sink = new PassThrough();
  const chunks: Buffer[] = [];
  sink.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise<void>((resolve, reject) => {
    sink.on('end', () => resolve());
    archive.on('error', reject);
  });
  archive.pipe(sink);
  for (const f of files) archive.append(f.data, { name: f.name, mode: f.mode });
  await archive.finalize();
  await done;
  return Buffer.concat(chunks);
}

function listTree(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string, rel: string): void => {
    for (const name of fs.readdirSync(dir).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      out.push(r);
      if (fs.lstatSync(path.join(dir, name)).isDirectory()) walk(path.join(dir, name), r);
    }
  };
  walk(root, '');
  return out;
}

const big = Buffer.alloc(5 * 1024 * 1024, 0); // compresses ~1000:1

/** Each case: a hostile archive that must be refused whole. */
const hostile: [string, RawEntry[], string][] = [
  ['../x (parent traversal)', [{ name: 'ok.txt', data: 'a' }, { name: '../x', data: 'evil' }], 'unsafe_path'],
  ['/etc/x (absolute)', [{ name: '/etc/x', data: 'evil' }], 'unsafe_path'],
  ['////etc/x (absolute, many slashes)', [{ name: '////etc/x', data: 'evil' }], 'unsafe_path'],
  ['C:\\x (drive letter + backslash)', [{ name: 'C:\\x', data: 'evil' }], 'unsafe_path'],
  ['C:x (drive letter)', [{ name: 'C:x', data: 'evil' }], 'unsafe_path'],
  ['..\\..\\x (backslash traversal)', [{ name: '..\\..\\x', data: 'evil' }], 'unsafe_path'],
  ['sibling prefix ../workspace2/x', [{ name: 'a/../../workspace2/x', data: 'evil' }], 'unsafe_path'],
  ['symlink entry', [{ name: 'link', data: '/etc/passwd', mode: 0o120777 }], 'unsafe_entry'],
  ['file through an earlier symlink', [{ name: 'd', data: '/tmp', mode: 0o120777 }, { name: 'd/x', data: 'evil' }], 'unsafe_entry'],
  ['dir, then symlink of the same name, then a file under it', [{ name: 'd/', mode: 0o040755 }, { name: 'd', data: '/tmp', mode: 0o120777 }, { name: 'd/x', data: 'evil' }], 'unsafe_entry'],
  ['FIFO entry', [{ name: 'fifo', data: '', mode: 0o010644 }], 'unsafe_entry'],
  ['character device entry', [{ name: 'dev', data: '', mode: 0o020644 }], 'unsafe_entry'],
  ['compression-ratio bomb', [{ name: 'zeros.bin', data: big, deflate: true }], 'zip_bomb'],
  ['path too deep', [{ name: `${'d/'.repeat(60)}x`, data: 'deep' }], 'too_deep'],
  ['declared size smaller than actual', [{ name: 'a.txt', data: 'ok' }, { name: 'lie.txt', data: 'x'.repeat(1000), declaredSize: 10 }], 'size_mismatch'],
  ['declared size larger than actual', [{ name: 'a.txt', data: 'ok' }, { name: 'lie.txt', data: 'x'.repeat(10), declaredSize: 1000 }], 'size_mismatch'],
  ['deflated entry larger than declared', [{ name: 'a.txt', data: 'ok' }, { name: 'lie.txt', data: 'x'.repeat(5000), declaredSize: 100, deflate: true }], 'size_mismatch'],
  ['deflated entry smaller than declared', [{ name: 'a.txt', data: 'ok' }, { name: 'lie.txt', data: 'x'.repeat(100), declaredSize: 5000, deflate: true }], 'size_mismatch'],
  ['corrupt data (bad CRC)', [{ name: 'a.txt', data: 'ok' }, { name: 'crc.txt', data: 'hello world', crc: 1234 }], 'corrupt_zip'],
  ['case-folding collision', [{ name: 'Readme.md', data: '1' }, { name: 'README.md', data: '2' }], 'path_collision'],
  ['NFC/NFD collision', [{ name: 'caf\u00e9.txt', data: '1' }, { name: 'cafe\u0301.txt', data: '2' }], 'path_collision'],
  ['duplicate entry', [{ name: 'x.txt', data: '1' }, { name: 'x.txt', data: '2' }], 'path_collision'],
  ['file where a directory is', [{ name: 'a', data: '1' }, { name: 'a/b', data: '2' }], 'path_collision'],
];

describe('catty-session upload', () => {
  let rt: RuntimeProcess;
  beforeAll(async () => {
    rt = await startRuntime({ env: { CATTY_AGENT_CMD: agentCmd('echo.mjs'), CATTY_MAX_UPLOAD_BYTES: String(8 * 1024 * 1024) } });
  });
  afterAll(async () => {
    await rt?.stop();
  });

  it.each(hostile)('rejects %s whole and leaves nothing behind', async (_name, entries, code) => {
    const res = await upload(rt, buildZip(entries));
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect((res.json as { error: { code: string } }).error.code, JSON.stringify(res.json)).toBe(code);
    expect(listTree(rt.workspace)).toEqual([]);
    expect(fs.existsSync(path.join(rt.dir, 'workspace2'))).toBe(false);
    expect(fs.existsSync(path.join(rt.dir, 'x'))).toBe(false);
  });

  it('rejects a truncated archive and garbage', async () => {
    const good = buildZip([{ name: 'a.txt', data: 'hello' }]);
    for (const body of [good.subarray(0, good.length - 10), Buffer.from('not a zip at all')]) {
      const res = await upload(rt, body);
      expect(res.status).toBe(400);
      expect((res.json as { error: { code: string } }).error.code).toBe('corrupt_zip');
    }
    expect(listTree(rt.workspace)).toEqual([]);
  });

  it('answers 413 past the body cap and to an archive expanding past the byte cap', async () => {
    const res = await upload(rt, Buffer.alloc(9 * 1024 * 1024, 1));
    expect(res.status).toBe(413);
    // ~4.6 MB on the wire (random hex deflates ~2:1, an honest ratio), 9 MiB once expanded.
    const hex = Buffer.from(randomBytes(4.5 * 1024 * 1024).toString('hex'));
    const expands = buildZip([{ name: 'a.txt', data: hex, deflate: true }]);
    expect(expands.length).toBeLessThan(8 * 1024 * 1024);
    const res2 = await upload(rt, expands);
    expect(res2.status).toBe(413);
    expect(listTree(rt.workspace)).toEqual([]);
  });

  it('refuses a wrong token', async () => {
    const res = await fetch(`${rt.url}/upload`, { method: 'POST', headers: { authorization: 'Bearer nope' }, body: 'x' });
    expect(res.status).toBe(401);
  });

  it('accepts a correct upload after the rejected ones, starts the agent, then answers 409', async () => {
    const zip = await archiverZip([
      { name: 'README.md', data: '# hi\n' },
      { name: 'src/main.sh', data: '#!/bin/sh\necho hi\n', mode: 0o755 },
      { name: 'src/deep/data.bin', data: Buffer.from([0, 1, 2, 255]) },
    ]);
    const res = await upload(rt, zip, '?cols=120&rows=40');
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ ok: true, files: 3, bytes: 5 + 18 + 4 });
    expect(fs.readFileSync(path.join(rt.workspace, 'README.md'), 'utf8')).toBe('# hi\n');
    expect(fs.statSync(path.join(rt.workspace, 'src/main.sh')).mode & 0o111).not.toBe(0);
    expect(fs.statSync(path.join(rt.workspace, 'README.md')).mode & 0o111).toBe(0);
    expect([...fs.readFileSync(path.join(rt.workspace, 'src/deep/data.bin'))]).toEqual([0, 1, 2, 255]);
    const health = (await (await fetch(`${rt.url}/healthz`)).json()) as { uploaded: boolean; agent: string };
    expect(health).toMatchObject({ uploaded: true, agent: 'running' });
    const c = new TestClient(rt);
    await c.opened;
    await c.waitForText('READY');
    c.send(Buffer.from('size\r'));
    await c.waitForText('SIZE 120x40');
    const again = await upload(rt, zip);
    expect(again.status).toBe(409);
  });
});
