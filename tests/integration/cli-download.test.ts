/**
 * `catty download` with crafted snapshot tarballs built from raw tar headers (SECURITY.md 3–9):
 * links, traversal, absolute paths, devices, collisions, a storage proxy answering 403, and a
 * sha256 mismatch — each a clear error with nothing left behind.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeApi, loginTo } from '../helpers/cli-fake-api.js';
import { runCli, tempDir } from '../helpers/cli.js';

const LABEL = 'quiet-lynx-0004';

interface TarEntry {
  name: string;
  type?: '0' | '1' | '2' | '3' | '5';
  body?: string;
  mode?: number;
  linkname?: string;
}

/** One ustar header + body, written by hand so the test controls every field. */
function tarEntry(e: TarEntry): Buffer {
  const body = Buffer.from(e.body ?? '');
  const header = Buffer.alloc(512);
  const put = (value: string, offset: number, length: number) => header.write(value, offset, length, 'utf8');
  const octal = (n: number, length: number) => n.toString(8).padStart(length - 1, '0') + '\0';
  put(e.name, 0, 100);
  put(octal(e.mode ?? (e.type === '5' ? 0o755 : 0o644), 8), 100, 8);
  put(octal(0, 8), 108, 8);
  put(octal(0, 8), 116, 8);
  put(octal(e.type === '0' || e.type === undefined ? body.length : 0, 12), 124, 12);
  put(octal(0, 12), 136, 12);
  put('        ', 148, 8);
  put(e.type ?? '0', 156, 1);
  put(e.linkname ?? '', 157, 100);
  put('ustar\u000000', 257, 8);
  let sum = 0;
  for (const byte of header) sum += byte;
  put(octal(sum, 7) + ' ', 148, 8);
  const padded = Buffer.alloc(Math.ceil(body.length / 512) * 512);
  body.copy(padded);
  return Buffer.concat([header, e.type === '0' || e.type === undefined ? padded : Buffer.alloc(0)]);
}

function tarGz(entries: TarEntry[]): Buffer {
  return zlib.gzipSync(Buffer.concat([...entries.map(tarEntry), Buffer.alloc(1024)]));
}

let api: FakeApi;
let storage: http.Server;
let storageUrl: string;
let served: Buffer = Buffer.alloc(0);
let storageStatus = 200;

beforeAll(async () => {
  storage = http.createServer((_req, res) => {
    if (storageStatus !== 200) return void res.writeHead(storageStatus, { 'content-type': 'application/xml' }).end('<Error><Code>AccessDenied</Code></Error>');
    res.writeHead(200, { 'content-length': served.length }).end(served);
  });
  await new Promise<void>((resolve) => storage.listen(0, '127.0.0.1', resolve));
  storageUrl = `http://127.0.0.1:${(storage.address() as AddressInfo).port}/bucket/sessions/x/snapshots/1.tar.gz?X-Amz-Signature=abc`;
  api = await FakeApi.start();
  api.addSession({ label: LABEL, status: 'stopped' });
});
afterAll(async () => {
  storage.closeAllConnections();
  await new Promise<void>((resolve) => storage.close(() => resolve()));
  await api.close();
});

function serve(archive: Buffer, options: { sha256?: string; status?: number } = {}): void {
  served = archive;
  storageStatus = options.status ?? 200;
  api.state.download = {
    url: storageUrl,
    size: archive.length,
    sha256: options.sha256 ?? crypto.createHash('sha256').update(archive).digest('hex'),
    createdAt: new Date().toISOString(),
    expiresIn: 300,
  };
}

async function download(args: string[] = []) {
  const home = tempDir('dl');
  const cwd = tempDir('dl-cwd');
  await loginTo(home, api);
  const result = await runCli(['download', LABEL, ...args], { home, cwd, env: { CATTY_API_URL: api.url } });
  return { ...result, cwd };
}

const GOOD: TarEntry[] = [
  { name: 'src/', type: '5' },
  { name: 'src/app.ts', body: 'export const x = 1;\n' },
  { name: 'run.sh', body: '#!/bin/sh\n', mode: 0o4755 },
  { name: '.git/', type: '5' },
  { name: '.git/HEAD', body: 'ref: refs/heads/main\n' },
];

describe('catty download', () => {
  it('extracts a good snapshot into ./<label>, exec bit only', async () => {
    serve(tarGz(GOOD));
    const result = await download();
    expect(result.code).toBe(0);
    const dest = path.join(result.cwd, LABEL);
    expect(fs.readFileSync(path.join(dest, 'src/app.ts'), 'utf8')).toBe('export const x = 1;\n');
    expect(fs.readFileSync(path.join(dest, '.git/HEAD'), 'utf8')).toContain('refs/heads/main');
    expect(fs.statSync(path.join(dest, 'run.sh')).mode & 0o7777).toBe(0o755);
    expect(fs.readdirSync(result.cwd)).toEqual([LABEL]); // no temp files left
  });

  it('saves the verified tarball with --format tar.gz', async () => {
    const archive = tarGz(GOOD);
    serve(archive);
    const result = await download(['snap', '--format', 'tar.gz']);
    expect(result.code).toBe(0);
    expect(fs.readFileSync(path.join(result.cwd, 'snap.tar.gz')).equals(archive)).toBe(true);
    expect(fs.readdirSync(result.cwd)).toEqual(['snap.tar.gz']);
  });

  it('refuses an existing non-empty destination before downloading', async () => {
    serve(tarGz(GOOD));
    const home = tempDir('dl');
    const cwd = tempDir('dl-cwd');
    await loginTo(home, api);
    fs.mkdirSync(path.join(cwd, LABEL));
    fs.writeFileSync(path.join(cwd, LABEL, 'mine.txt'), 'keep');
    const result = await runCli(['download', LABEL], { home, cwd, env: { CATTY_API_URL: api.url } });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('not empty');
    expect(fs.readdirSync(path.join(cwd, LABEL))).toEqual(['mine.txt']);
  });

  it.each<[string, TarEntry[], RegExp]>([
    ['a symlink', [{ name: 'src/', type: '5' }, { name: 'src/link', type: '2', linkname: '/etc/passwd' }], /SymbolicLink entry/],
    ['a hardlink', [{ name: 'a.txt', body: 'x' }, { name: 'b.txt', type: '1', linkname: 'a.txt' }], /Link entry/],
    ['a ../ path', [{ name: 'ok.txt', body: 'x' }, { name: '../escape.txt', body: 'pwned' }], /bad entry \.\.\/escape\.txt/],
    ['a nested ../ path', [{ name: 'a/../../escape.txt', body: 'pwned' }], /bad entry/],
    ['an absolute path', [{ name: '/tmp/catty-abs-escape.txt', body: 'pwned' }], /bad entry/],
    ['a device', [{ name: 'dev', type: '3' }], /CharacterDevice entry/],
    ['a case collision', [{ name: 'README.md', body: 'a' }, { name: 'readme.md', body: 'b' }], /collide/],
  ])('refuses %s and leaves nothing behind', async (_what, entries, why) => {
    serve(tarGz(entries));
    const result = await download();
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(why);
    expect(fs.readdirSync(result.cwd)).toEqual([]);
    expect(fs.existsSync(path.join(path.dirname(result.cwd), 'escape.txt'))).toBe(false);
    expect(fs.existsSync('/tmp/catty-abs-escape.txt')).toBe(false);
  });

  it('refuses a corrupt archive', async () => {
    serve(Buffer.concat([tarGz(GOOD).subarray(0, 60), Buffer.alloc(100, 1)]));
    const result = await download();
    expect(result.code).toBe(1);
    expect(fs.readdirSync(result.cwd)).toEqual([]);
  });

  it('stops before extracting on a sha256 mismatch', async () => {
    serve(tarGz(GOOD), { sha256: 'a'.repeat(64) });
    const result = await download();
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('sha256 mismatch');
    expect(fs.readdirSync(result.cwd)).toEqual([]);
  });

  it('reports storage refusing the URL (403) and writes nothing', async () => {
    serve(tarGz(GOOD), { status: 403 });
    const result = await download();
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('Storage refused the download');
    expect(fs.readdirSync(result.cwd)).toEqual([]);
  });

  it('exits 4 when there is no snapshot', async () => {
    api.state.download = null;
    const result = await download();
    expect(result.code).toBe(4);
    expect(fs.readdirSync(result.cwd)).toEqual([]);
  });
});
