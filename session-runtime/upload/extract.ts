/**
 * Extracts a planned zip into the workspace. Never follows a link: directories are created one
 * level at a time and must be real directories; files are created exclusively ('wx'). On any
 * failure (actual size ≠ declared, corrupt data) everything this call created is removed, so
 * the workspace is as it was and a correct upload can follow.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import zlib from 'node:zlib';
import type yauzl from 'yauzl';
import { resolveInside } from '../safe-path.js';
import { UploadRejected, type PlannedEntry } from './zip-plan.js';

export interface ExtractResult {
  files: number;
  bytes: number;
}

function openEntry(zip: yauzl.ZipFile, entry: yauzl.Entry): Promise<NodeJS.ReadableStream> {
  return new Promise((resolve, reject) => {
    zip.openReadStream(entry, (err, stream) => (err || !stream ? reject(err ?? new Error('no stream')) : resolve(stream)));
  });
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

export async function extractPlan(zip: yauzl.ZipFile, plan: PlannedEntry[], workspace: string): Promise<ExtractResult> {
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
  try {
    for (const p of plan) {
      if (p.kind === 'dir') {
        await ensureDir(p.rel);
        continue;
      }
      const parent = path.posix.dirname(p.rel);
      if (parent !== '.') await ensureDir(parent);
      const abs = resolveInside(workspace, p.rel);
      if (!abs) throw new UploadRejected('unsafe_path', `"${p.rel}" resolves outside the workspace`);
      const out = fs.createWriteStream(abs, { flags: 'wx', mode: p.executable ? 0o755 : 0o644 });
      await new Promise<void>((resolve, reject) => {
        out.once('open', () => resolve());
        out.once('error', reject);
      });
      created.push(abs);
      const input = await openEntry(zip, p.entry);
      await pipeline(input, entryGuard(p.rel, p.entry.uncompressedSize, p.entry.crc32), out);
      files += 1;
      bytes += p.entry.uncompressedSize;
    }
    return { files, bytes };
  } catch (err) {
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

async function removeCreated(created: string[]): Promise<void> {
  for (const abs of created.reverse()) {
    await fsp.rm(abs, { recursive: true, force: true }).catch(() => undefined);
  }
}
