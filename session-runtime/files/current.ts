/**
 * The workspace's current files as the Files view compares them with the base: whether a file
 * differs from its base record, hashing only when its status cannot say, and remembering hashes.
 *
 * A file is unchanged without being read when its size is the base's and its ctime is older
 * than the moment the base was complete (minus the coarse clock's slack, as the watcher's
 * baseline does): ctime, unlike mtime, cannot be set by the agent (`touch -d` sets mtime and
 * bumps ctime), so a file the agent wrote and back-dated is still hashed. A hash is remembered
 * with the status it was taken at (inode, size, ctime, mtime) and reused while that holds and
 * the ctime was already old when it was taken (a write in the same clock tick would keep it).
 *
 * Long work yields to the event loop every SLICE_MS: the terminal's echo must not wait on a tree
 * (PERFORMANCE.md P2).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { BaseFile } from './base.js';

/** Longest stretch of synchronous work before yielding to the event loop. */
export const SLICE_MS = 4;
/** See the header: a ctime this close to a reference time may be from just after it. */
export const CTIME_SLACK_MS = 50;
/** Files above this are never hashed here (their sha256 is reported as ''); a change is then
 * told by size and ctime alone, erring towards `modified`. */
export const HASH_MAX_BYTES = 128 * 1024 * 1024;
const HASH_CHUNK_BYTES = 1024 * 1024;
/** Remembered hashes, at most (a workspace of more files re-hashes some). */
const MAX_REMEMBERED = 200_000;

/** Yields to the event loop once the current slice has run SLICE_MS. */
export class Slicer {
  #sliceStart = performance.now();

  async tick(): Promise<void> {
    if (performance.now() - this.#sliceStart < SLICE_MS) return;
    await new Promise((resolve) => setImmediate(resolve));
    this.#sliceStart = performance.now();
  }
}

interface Remembered {
  ino: bigint;
  size: bigint;
  ctimeNs: bigint;
  mtimeNs: bigint;
  sha256: string;
}

export class HashCache {
  readonly #byPath = new Map<string, Remembered>();

  /** The sha256 remembered for `rel` when its status `st` is still the one it was taken at. */
  known(rel: string, st: fs.BigIntStats): string | undefined {
    const known = this.#byPath.get(rel);
    if (known && known.ino === st.ino && known.size === st.size && known.ctimeNs === st.ctimeNs && known.mtimeNs === st.mtimeNs) return known.sha256;
    return undefined;
  }

  /** sha256 of the open regular file `fd` (status `st`), from memory when it still holds; '' above HASH_MAX_BYTES. */
  async sha256(rel: string, fd: number, st: fs.BigIntStats, slicer: Slicer): Promise<string> {
    if (st.size > BigInt(HASH_MAX_BYTES)) return '';
    const known = this.known(rel, st);
    if (known !== undefined) return known;
    const takenAtNs = BigInt(Date.now() - CTIME_SLACK_MS) * 1_000_000n;
    const sha256 = await hashFd(fd, slicer);
    if (st.ctimeNs < takenAtNs) {
      if (this.#byPath.size >= MAX_REMEMBERED) this.#byPath.clear();
      this.#byPath.set(rel, { ino: st.ino, size: st.size, ctimeNs: st.ctimeNs, mtimeNs: st.mtimeNs, sha256 });
    } else this.#byPath.delete(rel);
    return sha256;
  }
}

async function hashFd(fd: number, slicer: Slicer): Promise<string> {
  const hash = createHash('sha256');
  const buf = Buffer.allocUnsafe(HASH_CHUNK_BYTES);
  for (let at = 0; ; ) {
    const n = fs.readSync(fd, buf, 0, buf.length, at);
    if (n === 0) break;
    hash.update(buf.subarray(0, n));
    at += n;
    await slicer.tick();
  }
  return hash.digest('hex');
}

/**
 * Whether the file (open as `fd`, status `st`) differs from its base record: by size, then by
 * ctime against `baseAtMs`, then by hash.
 */
export async function differsFromBase(rel: string, fd: number, st: fs.BigIntStats, base: BaseFile, baseAtMs: number, hashes: HashCache, slicer: Slicer): Promise<boolean> {
  if (st.size !== BigInt(base.size)) return true;
  if (st.ctimeNs < BigInt(baseAtMs - CTIME_SLACK_MS) * 1_000_000n) return false;
  const sha256 = await hashes.sha256(rel, fd, st, slicer);
  return sha256 === '' || sha256 !== base.sha256;
}
