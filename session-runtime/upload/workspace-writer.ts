/**
 * What both extraction paths (extract.ts, from the spooled zip; stream-extract.ts, while it
 * arrives) do to the workspace: directories one level at a time, each a real directory (never
 * through a link), files created exclusively ('wx'), and a record of everything created so a
 * failed extraction removes exactly that. Plus the decoding of a small entry, checked.
 *
 * Synchronous on purpose: creating a file costs ~0.5 ms of kernel time on these VMs and 2–8
 * creations in flight on the thread pool were measured slower here (more kernel time), not faster.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import zlib from 'node:zlib';
import { resolveInside } from '../wire/safe-path.js';
import { UploadRejected } from './zip-plan.js';

export class WorkspaceWriter {
  readonly #created: string[] = [];
  readonly #knownDirs = new Set<string>();

  constructor(private readonly workspace: string) {}

  /** `rel` and each of its parents. */
  ensureDir(rel: string): void {
    const segments = rel.split('/');
    for (let i = 1; i <= segments.length; i++) {
      const sub = segments.slice(0, i).join('/');
      if (this.#knownDirs.has(sub)) continue;
      const abs = this.#resolve(sub);
      try {
        fs.mkdirSync(abs, { mode: 0o755 });
        this.#created.push(abs);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        if (!fs.lstatSync(abs).isDirectory()) throw new UploadRejected('unsafe_path', `"${sub}" exists and is not a directory`);
      }
      this.#knownDirs.add(sub);
    }
  }

  /** Makes the file's parent directories; returns its absolute path. */
  prepareFile(rel: string): string {
    const slash = rel.lastIndexOf('/');
    if (slash > 0) this.ensureDir(rel.slice(0, slash));
    return this.#resolve(rel);
  }

  /** Opens a new file (never an existing one); the caller closes the descriptor. */
  create(abs: string, mode: number): number {
    const fd = fs.openSync(abs, 'wx', mode);
    this.#created.push(abs);
    return fd;
  }

  writeFile(abs: string, data: Buffer, mode: number): void {
    const fd = this.create(abs, mode);
    try {
      writeAll(fd, data);
    } finally {
      fs.closeSync(fd);
    }
  }

  /** Removes everything created, deepest first. */
  async rollback(): Promise<void> {
    for (const abs of this.#created.splice(0).reverse()) {
      await fsp.rm(abs, { recursive: true, force: true }).catch(() => undefined);
    }
  }

  #resolve(rel: string): string {
    const abs = resolveInside(this.workspace, rel);
    if (!abs) throw new UploadRejected('unsafe_path', `"${rel}" resolves outside the workspace`);
    return abs;
  }
}

export function writeAll(fd: number, data: Buffer): void {
  for (let off = 0; off < data.length; ) off += fs.writeSync(fd, data, off, data.length - off);
}

/** A small entry's content from its raw (stored or deflated) bytes; size and CRC checked. */
export function decodeEntry(rel: string, method: number, raw: Buffer, size: number, crc32: number): Buffer {
  let data: Buffer;
  if (method === 0) data = raw;
  else {
    try {
      // One byte more than declared: a larger output is a lie, not something to keep inflating.
      data = zlib.inflateRawSync(raw, { maxOutputLength: size + 1 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw new UploadRejected('size_mismatch', `"${rel}" is larger than its declared size`);
      throw err;
    }
  }
  if (data.length !== size) throw new UploadRejected('size_mismatch', `"${rel}" is ${data.length} bytes, declared ${size}`);
  if (zlib.crc32(data) >>> 0 !== crc32 >>> 0) throw new UploadRejected('corrupt_zip', `"${rel}" is corrupt (CRC mismatch)`);
  return data;
}
