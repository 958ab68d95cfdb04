/**
 * Opening what the agent named in the workspace without ever following a link, race-free.
 *
 * The agent can plant `a -> /` or swap a directory for a link between any check and any open,
 * and what the runtime reads goes to a browser (maybe a share link's). The runtime is the
 * agent's uid, but it can read what the agent cannot: its own /proc/self (environ holds the
 * connect and machine tokens; the agent cannot read them, SECURITY.md 37). So nothing here
 * resolves a path through a link, at any depth: every step opens one name relative to the
 * directory descriptor the previous step holds (`/proc/self/fd/N/name`, which resolves `name`
 * in exactly that directory, like openat(2)) with O_NOFOLLOW. A link anywhere fails the open
 * (ELOOP), a swap after a step cannot redirect a step already taken, and fstat confirms the
 * last descriptor is a regular file. O_NONBLOCK: a FIFO planted under a file's name never
 * blocks the open.
 */
import fs from 'node:fs';

const { O_RDONLY, O_DIRECTORY, O_NOFOLLOW, O_NONBLOCK, O_NOCTTY } = fs.constants;
const DIR_FLAGS = O_RDONLY | O_DIRECTORY | O_NOFOLLOW;
const FILE_FLAGS = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY;

/** `name` (one segment) inside the directory `dirFd` holds, as a path the kernel resolves there. */
export function inDir(dirFd: number, name: string): string {
  return `/proc/self/fd/${dirFd}/${name}`;
}

/** The workspace root (trusted: from the runtime's configuration). */
export function openRoot(root: string): number {
  return fs.openSync(root, O_RDONLY | O_DIRECTORY);
}

/** A directory `name` inside `dirFd`; throws (ELOOP, ENOTDIR, ENOENT) when it is not one. */
export function openDirIn(dirFd: number, name: string): number {
  return fs.openSync(inDir(dirFd, name), DIR_FLAGS);
}

export type Opened =
  | { kind: 'file'; fd: number; stat: fs.Stats }
  | { kind: 'missing' }
  /** A link at the path or at one of its directories. */
  | { kind: 'symlink' }
  /** A directory, FIFO, socket or device. */
  | { kind: 'other' };

/** What lstat says is at `name` inside `dirFd` (for telling a refusal apart, never for opening). */
function kindAt(dirFd: number, name: string): Opened {
  try {
    const st = fs.lstatSync(inDir(dirFd, name));
    return st.isSymbolicLink() ? { kind: 'symlink' } : { kind: 'other' };
  } catch {
    return { kind: 'missing' };
  }
}

/**
 * Opens the regular file at `rel` (a checked relative path: no empty, `.` or `..` segment) under
 * `rootFd`, each step relative to the last and never through a link. The caller closes `fd`.
 */
export function openFileNoFollow(rootFd: number, rel: string): Opened {
  const segments = rel.split('/');
  const last = segments.pop() as string;
  const opened: number[] = [];
  try {
    let dirFd = rootFd;
    for (const segment of segments) {
      try {
        dirFd = openDirIn(dirFd, segment);
      } catch {
        const at = kindAt(dirFd, segment);
        // A file where a directory would be: nothing at `rel`.
        return at.kind === 'other' ? { kind: 'missing' } : at;
      }
      opened.push(dirFd);
    }
    let fd: number;
    try {
      fd = fs.openSync(inDir(dirFd, last), FILE_FLAGS);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return { kind: 'missing' };
      if (code === 'ELOOP') return { kind: 'symlink' };
      return kindAt(dirFd, last);
    }
    const stat = fs.fstatSync(fd);
    if (!stat.isFile()) {
      fs.closeSync(fd);
      return { kind: 'other' };
    }
    return { kind: 'file', fd, stat };
  } finally {
    for (const fd of opened) fs.closeSync(fd);
  }
}

/**
 * Reads from `fd` until its end or `max` bytes, whichever first: a file that grows while read
 * never takes more memory than `max`.
 */
export function readUpTo(fd: number, max: number): Buffer {
  const out = Buffer.allocUnsafe(max);
  let got = 0;
  while (got < max) {
    const n = fs.readSync(fd, out, got, max - got, got);
    if (n === 0) break;
    got += n;
  }
  return out.subarray(0, got);
}
