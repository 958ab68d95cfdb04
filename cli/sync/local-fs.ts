/**
 * The file-system half of sync-back (SECURITY.md 10–12, 15, 18): resolve a validated relative
 * path inside the local directory without ever following a link, and replace files atomically
 * (temp file in the same directory → fsync → rename), setting only the exec bit.
 */
import crypto from 'node:crypto';
import type { Stats } from 'node:fs';
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

export type LocalState = { kind: 'absent' } | { kind: 'file'; sha256: string; executable: boolean };

/** What is at `target` now; refuses links, directories and special files. */
export async function localState(target: string): Promise<LocalState> {
  const stat = await checkTarget(target);
  if (!stat) return { kind: 'absent' };
  return { kind: 'file', sha256: await sha256File(target), executable: (stat.mode & 0o100) !== 0 };
}

/** lstats `target`: null when absent; refuses links, directories and special files. */
export async function checkTarget(target: string): Promise<Stats | null> {
  let stat;
  try {
    stat = await fs.lstat(target);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  if (stat.isSymbolicLink()) throw new Refusal('the local path is a symlink');
  if (!stat.isFile()) throw new Refusal('the local path is not a regular file');
  return stat;
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
    const file = path.join(path.dirname(target), `.${path.basename(target).slice(0, 200)}.catty-tmp-${crypto.randomBytes(6).toString('hex')}`);
    const handle = await fs.open(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
    return new TempFile(file, handle);
  }

  async write(data: Buffer): Promise<void> {
    this.#hash.update(data);
    this.size += data.length;
    let offset = 0;
    while (offset < data.length) offset += (await this.#handle.write(data, offset)).bytesWritten;
  }

  /** Verifies size + sha256, sets the mode (exec bit only), fsyncs and renames over `target`. */
  async commit(target: string, expected: { size: number; sha256: string; executable: boolean }): Promise<void> {
    try {
      const sha = this.#hash.digest('hex');
      if (this.size !== expected.size || sha !== expected.sha256) throw new Refusal('content does not match its announced size and sha256');
      // Only the exec bit travels: never setuid/setgid/sticky, never an owner change.
      await this.#handle.chmod(expected.executable ? 0o755 : 0o644);
      await this.#handle.sync();
      await this.#handle.close();
      await fs.rename(this.path, target);
    } catch (error) {
      await this.discard();
      throw error;
    }
  }

  async discard(): Promise<void> {
    await this.#handle.close().catch(() => undefined);
    await fs.rm(this.path, { force: true }).catch(() => undefined);
  }
}

/** `<dir>/<name>.catty-conflict-<label><.ext>` beside the original. */
export function conflictPath(target: string, label: string): string {
  const ext = path.extname(target);
  const base = path.basename(target, ext);
  return path.join(path.dirname(target), `${base}.catty-conflict-${label}${ext}`);
}
