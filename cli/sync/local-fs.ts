/**
 * The file-system half of sync-back (SECURITY.md 10–12, 15, 18): resolve a validated relative
 * path inside the local directory without ever following a link, and replace files atomically
 * (temp file in the same directory → fsync → rename), setting only the exec bit.
 */
import crypto from 'node:crypto';
import type { BigIntStats } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { isGitPath, relativePathProblem, resolveInside } from '../../session-runtime/wire/safe-path.js';

export class Refusal extends Error {
  override readonly name = 'Refusal';
}

/** Validates a path from the session machine; returns the absolute target inside `root`. */
export function checkRemotePath(root: string, rel: string): string {
  const problem = relativePathProblem(rel);
  if (problem) throw new Refusal(problem);
  if (isGitPath(rel)) throw new Refusal('.git is never written by sync-back');
  const target = resolveInside(root, rel);
  if (!target) throw new Refusal('path leaves the local directory');
  return target;
}

/**
 * lstats every directory between `root` and `target`: refuses a symlinked or non-directory
 * parent, creates missing ones (0755) when `create`. Returns false when a parent is missing
 * and !create.
 */
export async function checkParents(root: string, target: string, create: boolean): Promise<boolean> {
  const segments = path.relative(root, path.dirname(target)).split(path.sep).filter((s) => s !== '');
  let dir = root;
  for (const segment of segments) {
    dir = path.join(dir, segment);
    let stat;
    try {
      stat = await fs.lstat(dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      if (!create) return false;
      try {
        await fs.mkdir(dir, { mode: 0o755 });
      } catch (mkdirError) {
        if ((mkdirError as NodeJS.ErrnoException).code !== 'EEXIST') throw mkdirError;
      }
      stat = await fs.lstat(dir);
    }
    if (stat.isSymbolicLink()) throw new Refusal(`parent ${path.relative(root, dir)} is a symlink`);
    if (!stat.isDirectory()) throw new Refusal(`parent ${path.relative(root, dir)} is not a directory`);
  }
  return true;
}

/** What identifies one state of a local file: if any of it differs, the file was changed. */
export type Stamp = string;

export type LocalState = { kind: 'absent' } | { kind: 'file'; sha256: string; executable: boolean; stamp: Stamp };

/** Attempts at reading a file that keeps changing while it is hashed. */
const HASH_ATTEMPTS = 3;

/**
 * What is at `target` now; refuses links, directories and special files. The hash is of one
 * state of the file: its stamp is taken before and after, and it is read again if they differ.
 */
export async function localState(target: string): Promise<LocalState> {
  for (let attempt = 0; attempt < HASH_ATTEMPTS; attempt++) {
    const stat = await checkTarget(target);
    if (!stat) return { kind: 'absent' };
    const sha256 = await sha256File(target);
    const stamp = await stampOf(target);
    if (stamp === stampFrom(stat)) return { kind: 'file', sha256, executable: (Number(stat.mode) & 0o100) !== 0, stamp };
  }
  throw new Refusal('the local file kept changing while it was read');
}

/** lstats `target`: null when absent; refuses links, directories and special files. */
export async function checkTarget(target: string): Promise<BigIntStats | null> {
  let stat;
  try {
    stat = await fs.lstat(target, { bigint: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  if (stat.isSymbolicLink()) throw new Refusal('the local path is a symlink');
  if (!stat.isFile()) throw new Refusal('the local path is not a regular file');
  return stat;
}

/** Removes `target` if it is still in the state `stamp`; false (left alone) when it changed. */
export async function removeIfUnchanged(target: string, stamp: Stamp): Promise<boolean> {
  if ((await stampOf(target)) !== stamp) return false;
  await fs.rm(target);
  return true;
}

/** The stamp of what is at `target` now; null when nothing is. */
async function stampOf(target: string): Promise<Stamp | null> {
  try {
    return stampFrom(await fs.lstat(target, { bigint: true }));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

function stampFrom(stat: BigIntStats): Stamp {
  return `${stat.dev}:${stat.ino}:${stat.mode}:${stat.size}:${stat.mtimeNs}:${stat.ctimeNs}`;
}

export async function sha256File(file: string): Promise<string> {
  const hash = crypto.createHash('sha256');
  const handle = await fs.open(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  try {
    for await (const chunk of handle.createReadStream({ autoClose: false })) hash.update(chunk as Buffer);
  } finally {
    await handle.close();
  }
  return hash.digest('hex');
}

/** A temp file beside `target`, exclusive-created (so never through a link), 0600 until done. */
export class TempFile {
  readonly path: string;
  readonly #handle: fs.FileHandle;
  readonly #hash = crypto.createHash('sha256');
  size = 0;

  private constructor(file: string, handle: fs.FileHandle) {
    this.path = file;
    this.#handle = handle;
  }

  static async create(target: string): Promise<TempFile> {
    // The name's first bytes help a user who finds a leftover; cut by bytes, as NAME_MAX counts.
    const file = path.join(path.dirname(target), `.${clipBytes(path.basename(target), 64)}.catty-tmp-${crypto.randomBytes(6).toString('hex')}`);
    const handle = await fs.open(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
    return new TempFile(file, handle);
  }

  async write(data: Buffer): Promise<void> {
    this.#hash.update(data);
    this.size += data.length;
    let offset = 0;
    while (offset < data.length) offset += (await this.#handle.write(data, offset)).bytesWritten;
  }

  /** Verifies size + sha256, sets the mode (exec bit only), fsyncs and closes: ready to be placed. */
  async seal(expected: { size: number; sha256: string; executable: boolean }): Promise<void> {
    const sha = this.#hash.digest('hex');
    if (this.size !== expected.size || sha !== expected.sha256) throw new Refusal('content does not match its announced size and sha256');
    // Only the exec bit travels: never setuid/setgid/sticky, never an owner change.
    await this.#handle.chmod(expected.executable ? 0o755 : 0o644);
    await this.#handle.sync();
    await this.#handle.close();
  }

  /**
   * Puts the sealed file at `target` if what is there is still what was decided on: nothing
   * (`null`: linked in, which fails if a file appeared — no window at all), or the file state
   * `stamp` (checked, then renamed over: the window is between those two calls). Returns false,
   * leaving everything as it is, when `target` changed since.
   */
  async place(target: string, stamp: Stamp | null): Promise<boolean> {
    if (stamp === null) {
      try {
        await fs.link(this.path, target);
        await fs.rm(this.path, { force: true });
        return true;
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'EEXIST') return false;
        // A file system without hard links: the check below, then the rename.
        if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EXDEV' && code !== 'ENOSYS' && code !== 'EMLINK') throw error;
      }
    }
    if ((await stampOf(target)) !== stamp) return false;
    await fs.rename(this.path, target);
    return true;
  }

  async discard(): Promise<void> {
    await this.#handle.close().catch(() => undefined);
    await fs.rm(this.path, { force: true }).catch(() => undefined);
  }
}

/** `<dir>/<name>.catty-conflict-<label><.ext>` beside the original; the n-th (n ≥ 2) is
 * `<name>.catty-conflict-<label>-<n><.ext>`. */
export function conflictPath(target: string, label: string, n = 1): string {
  let ext = path.extname(target);
  if (Buffer.byteLength(ext) > 32) ext = '';
  const suffix = `.catty-conflict-${label}${n > 1 ? `-${n}` : ''}${ext}`;
  // A name near the 255-byte limit still gets a copy: its base is cut (by bytes) to make room.
  const base = clipBytes(path.basename(target, ext), NAME_MAX_BYTES - Buffer.byteLength(suffix));
  return path.join(path.dirname(target), `${base}${suffix}`);
}

const NAME_MAX_BYTES = 255;

/** The longest prefix of `s` of at most `max` UTF-8 bytes that ends on a whole character. */
export function clipBytes(s: string, max: number): string {
  if (Buffer.byteLength(s) <= max) return s;
  let out = '';
  let bytes = 0;
  for (const ch of s) {
    const n = Buffer.byteLength(ch);
    if (bytes + n > max) break;
    out += ch;
    bytes += n;
  }
  return out;
}
