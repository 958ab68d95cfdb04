/**
 * Extracts a planned zip into the workspace. Never follows a link: directories are created one
 * level at a time and must be real directories; files are created exclusively ('wx'). On any
 * failure (actual size ≠ declared, corrupt data) everything this call created is removed, so
 * the workspace is as it was and a correct upload can follow.
 *
 * Speed (a 100 MB / 6,000-file tree; on the VMs here creating a file costs ~0.35 ms of kernel
 * time, which dominates): directories are made first, once each. A small entry (the common
 * case) is handled with plain synchronous calls: one positional read of its local header and
 * data from the spooled zip, inflate, CRC, then open/write/close — no thread-pool hops, no
 * streams; measured ~2× faster than streaming each entry through yauzl (whose reads of one
 * file are serialized) even with 16 in flight. The event loop is yielded every YIELD_EVERY_MS
 * so /healthz and WebSocket pings stay answered. Large entries stream (bounded memory). No
 * fsync: the workspace is scratch space until the first snapshot.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import zlib from 'node:zlib';
import type yauzl from 'yauzl';
import { resolveInside } from '../safe-path.js';
import { UploadRejected, type PlannedEntry } from './zip-plan.js';

/** Longest stretch of synchronous extraction before yielding to the event loop. */
export const YIELD_EVERY_MS = 15;
const LOCAL_HEADER_BYTES = 30;
const LOCAL_HEADER_SIGNATURE = 0x04034b50;
/** Entries up to this size (compressed and uncompressed) are extracted in memory. */
export const SMALL_ENTRY_BYTES = 1024 * 1024;

export interface ExtractResult {
  files: number;
  bytes: number;
  /** The files' relative paths (what the workspace watcher starts from). */
  paths: string[];
}

function openEntry(zip: yauzl.ZipFile, entry: yauzl.Entry): Promise<NodeJS.ReadableStream> {
  return new Promise((resolve, reject) => {
    zip.openReadStream(entry, (err, stream) => (err || !stream ? reject(err ?? new Error('no stream')) : resolve(stream)));
  });
}

/** A small entry's content, read straight from the zip file; size and CRC checked. */
function readSmallEntry(zipFd: number, p: PlannedEntry): Buffer {
  const { entry, rel } = p;
  const method = entry.compressionMethod;
  if (method !== 0 && method !== 8) throw new UploadRejected('corrupt_zip', `"${rel}" uses unsupported compression method ${method}`);
  const at = entry.relativeOffsetOfLocalHeader;
  // The local header's name and extra field usually match the central directory's; read
  // enough for that in one go and read again only when they do not.
  let buf = Buffer.allocUnsafe(LOCAL_HEADER_BYTES + entry.fileNameLength + entry.extraFieldLength + entry.compressedSize);
  let got = fs.readSync(zipFd, buf, 0, buf.length, at);
  if (got < LOCAL_HEADER_BYTES || buf.readUInt32LE(0) !== LOCAL_HEADER_SIGNATURE) throw new UploadRejected('corrupt_zip', `"${rel}" has no valid local header`);
  const dataStart = LOCAL_HEADER_BYTES + buf.readUInt16LE(26) + buf.readUInt16LE(28);
  if (dataStart + entry.compressedSize > buf.length) {
    buf = Buffer.allocUnsafe(dataStart + entry.compressedSize);
    got = fs.readSync(zipFd, buf, 0, buf.length, at);
  }
  if (got < dataStart + entry.compressedSize) throw new UploadRejected('corrupt_zip', `"${rel}" is truncated`);
  const raw = buf.subarray(dataStart, dataStart + entry.compressedSize);
  let data: Buffer;
  if (method === 0) data = raw;
  else {
    try {
      // One byte more than declared: a larger output is a lie, not something to keep inflating.
      data = zlib.inflateRawSync(raw, { maxOutputLength: entry.uncompressedSize + 1 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw new UploadRejected('size_mismatch', `"${rel}" is larger than its declared size`);
      throw err;
    }
  }
  if (data.length !== entry.uncompressedSize) throw new UploadRejected('size_mismatch', `"${rel}" is ${data.length} bytes, declared ${entry.uncompressedSize}`);
  if (zlib.crc32(data) >>> 0 !== entry.crc32 >>> 0) throw new UploadRejected('corrupt_zip', `"${rel}" is corrupt (CRC mismatch)`);
  return data;
}

/** Counts bytes (fails as soon as an entry yields more than it declared) and checks the CRC,
 * which yauzl leaves to the caller. */
function entryGuard(rel: string, declared: number, crc: number): Transform {
  let seen = 0;
  let actualCrc = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      seen += chunk.length;
      if (seen > declared) return done(new UploadRejected('size_mismatch', `"${rel}" is larger than its declared size`));
      actualCrc = zlib.crc32(chunk, actualCrc);
      done(null, chunk);
    },
    flush(done) {
      if (seen !== declared) return done(new UploadRejected('size_mismatch', `"${rel}" is ${seen} bytes, declared ${declared}`));
      done(actualCrc >>> 0 === crc >>> 0 ? null : new UploadRejected('corrupt_zip', `"${rel}" is corrupt (CRC mismatch)`));
    },
  });
}

/** `zipFile` is the spooled archive `zip` was opened from (small entries are read from it directly). */
export async function extractPlan(zip: yauzl.ZipFile, zipFile: string, plan: PlannedEntry[], workspace: string): Promise<ExtractResult> {
  const created: string[] = [];
  const knownDirs = new Set<string>();
  const ensureDir = async (rel: string): Promise<void> => {
    const segments = rel.split('/');
    for (let i = 1; i <= segments.length; i++) {
      const sub = segments.slice(0, i).join('/');
      if (knownDirs.has(sub)) continue;
      const abs = resolveInside(workspace, sub);
      if (!abs) throw new UploadRejected('unsafe_path', `"${sub}" resolves outside the workspace`);
      try {
        await fsp.mkdir(abs, { mode: 0o755 });
        created.push(abs);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        if (!(await fsp.lstat(abs)).isDirectory()) throw new UploadRejected('unsafe_path', `"${sub}" exists and is not a directory`);
      }
      knownDirs.add(sub);
    }
  };
  let files = 0;
  let bytes = 0;
  const writeSmall = (zipFd: number, p: PlannedEntry, abs: string, mode: number): void => {
    // Read (and verify) before creating the file: a corrupt entry leaves nothing behind.
    const data = readSmallEntry(zipFd, p);
    const fd = fs.openSync(abs, 'wx', mode);
    created.push(abs);
    try {
      for (let off = 0; off < data.length; ) off += fs.writeSync(fd, data, off, data.length - off);
    } finally {
      fs.closeSync(fd);
    }
  };
  const writeLarge = async (p: PlannedEntry, abs: string, mode: number): Promise<void> => {
    const out = fs.createWriteStream(abs, { flags: 'wx', mode });
    await new Promise<void>((resolve, reject) => {
      out.once('open', () => resolve());
      out.once('error', reject);
    });
    created.push(abs);
    const input = await openEntry(zip, p.entry);
    await pipeline(input, entryGuard(p.rel, p.entry.uncompressedSize, p.entry.crc32), out);
  };
  let zipFd: number | null = null;
  try {
    zipFd = fs.openSync(zipFile, 'r');
    const fileEntries: PlannedEntry[] = [];
    for (const p of plan) {
      if (p.kind === 'dir') await ensureDir(p.rel);
      else {
        const parent = path.posix.dirname(p.rel);
        if (parent !== '.') await ensureDir(parent);
        fileEntries.push(p);
      }
    }
    let sliceStartMs = performance.now();
    for (const p of fileEntries) {
      const abs = resolveInside(workspace, p.rel);
      if (!abs) throw new UploadRejected('unsafe_path', `"${p.rel}" resolves outside the workspace`);
      const mode = p.executable ? 0o755 : 0o644;
      if (p.entry.compressedSize <= SMALL_ENTRY_BYTES && p.entry.uncompressedSize <= SMALL_ENTRY_BYTES) writeSmall(zipFd, p, abs, mode);
      else await writeLarge(p, abs, mode);
      files += 1;
      bytes += p.entry.uncompressedSize;
      if (performance.now() - sliceStartMs > YIELD_EVERY_MS) {
        await new Promise((resolve) => setImmediate(resolve));
        sliceStartMs = performance.now();
      }
    }
    const fd = zipFd;
    zipFd = null;
    fs.closeSync(fd);
    return { files, bytes, paths: fileEntries.map((p) => p.rel) };
  } catch (err) {
    if (zipFd !== null) fs.close(zipFd, () => undefined);
    await removeCreated(created);
    if (err instanceof UploadRejected) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new UploadRejected('path_collision', 'An entry would overwrite an existing file');
    if (code === 'ENOSPC' || code === 'EDQUOT') throw new UploadRejected('no_space', 'The workspace is out of disk space', 507);
    // yauzl's validateEntrySizes: "too many / not enough bytes in the stream".
    if (/bytes in the stream/.test((err as Error).message)) throw new UploadRejected('size_mismatch', `An entry's size differs from its declared size: ${(err as Error).message}`);
    throw new UploadRejected('corrupt_zip', `Corrupt zip archive: ${(err as Error).message}`);
  }
}

/** Removes what an extraction created, deepest first. */
export async function removeCreated(created: string[]): Promise<void> {
  for (const abs of created.reverse()) {
    await fsp.rm(abs, { recursive: true, force: true }).catch(() => undefined);
  }
}
