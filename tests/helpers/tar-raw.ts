/**
 * Builds tar.gz archives from raw ustar headers, so tests control every field (links, devices,
 * traversal names) that no well-behaved tar writer would produce. Used by the `catty download`
 * tests (tests/integration/cli-download.test.ts, tests/security/download.test.ts).
 */
import zlib from 'node:zlib';

export interface TarEntry {
  name: string;
  type?: '0' | '1' | '2' | '3' | '5';
  body?: string | Buffer;
  mode?: number;
  linkname?: string;
}

/** One ustar header + body, written by hand so the test controls every field. */
export function tarEntry(e: TarEntry): Buffer {
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

export function tarGz(entries: TarEntry[]): Buffer {
  return zlib.gzipSync(Buffer.concat([...entries.map(tarEntry), Buffer.alloc(1024)]));
}
