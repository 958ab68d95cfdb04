/**
 * An exclusive pid file: one catty-api per data directory. Two control planes on one SQLite
 * database and one machines directory would each think they own every session (it happened:
 * twenty `catty connect`s on a loaded machine each found the control plane slow to answer and
 * started their own).
 *
 * The file is created whole or not at all (written to a temp name, then hard-linked into place,
 * which fails if it exists). A file whose process is gone, or is no longer a catty-api (a pid
 * reused after a crash), is stale: it is moved aside (rename is atomic, so of two processes
 * judging the same stale file only one moves it; one that finds it moved a fresh lock instead
 * puts it back) and the link is tried again.
 */
import fs from 'node:fs';

export interface PidLock {
  readonly file: string;
  release(): void;
}

export type PidLockResult = { lock: PidLock } | { heldBy: number };

/** Whether `pid` is a live process whose command line (as far as this OS shows) matches
 * `program`: on Linux a reused pid belongs to some other program. */
export function liveProcessOf(pid: number, program: RegExp): boolean {
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    return program.test(fs.readFileSync(`/proc/${pid}/cmdline`, 'latin1'));
  } catch {
    return true; // no /proc here: a live pid is all we can know
  }
}

/** A live catty-api: `node …/api/bin.js` or its `catty-api` bin link. */
export const liveApiProcess = (pid: number): boolean => liveProcessOf(pid, /api\/bin\.js|catty-api/);

function readPid(file: string): number | null {
  try {
    const pid = Number.parseInt(fs.readFileSync(file, 'utf8'), 10);
    return Number.isInteger(pid) ? pid : null;
  } catch {
    return null;
  }
}

export function acquirePidLock(file: string, holderAlive: (pid: number) => boolean = liveApiProcess): PidLockResult {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${process.pid}\n`, { mode: 0o600 });
  try {
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        fs.linkSync(tmp, file);
        return {
          lock: {
            file,
            release: () => {
              if (readPid(file) === process.pid) fs.rmSync(file, { force: true });
            },
          },
        };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const holder = readPid(file);
      if (holder !== null && holderAlive(holder)) return { heldBy: holder };
      const aside = `${file}.${process.pid}.stale`;
      try {
        fs.renameSync(file, aside);
      } catch {
        continue; // someone else moved it first: try the link again
      }
      const moved = readPid(aside);
      if (moved !== holder && moved !== null) {
        // Between our read and the move, another process took the stale file's place: that
        // was its live lock. Put it back.
        try {
          fs.linkSync(aside, file);
        } catch {
          // the slot was taken again meanwhile; that holder stands
        }
        fs.rmSync(aside, { force: true });
        return { heldBy: moved };
      }
      fs.rmSync(aside, { force: true });
    }
    const holder = readPid(file);
    return { heldBy: holder ?? 0 };
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}
