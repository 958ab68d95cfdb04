/**
 * Watches the workspace and turns file events into a pending set keyed by path. Events on one
 * path within DEBOUNCE_MS coalesce into one entry; a path changed a thousand times while nobody
 * is attached is still one entry. Whether a path is ignored is decided when it is sent (so a
 * changed .gitignore applies at once); chokidar itself skips only `.git/` and dependency folders,
 * which are never synced and would cost inotify watches.
 */
import fs from 'node:fs';
import path from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import { DEPENDENCY_DIRS } from '../ignore-rules.js';

/** Per-path quiet period before a change is considered complete. */
export const DEBOUNCE_MS = 30;
/**
 * `settle` waits for this long without any event: chokidar reports a write after an inotify
 * event plus a stat (and a readdir for a new directory), and holds unlinks back 100 ms
 * (`atomic`); on a loaded machine that can take a while — longer than this, between two files
 * of a new directory (seen in a full test run: the 64th of 200 files written just before the
 * agent exited was never sent). So silence alone is not enough: every directory where something
 * happened lately is also read, and settling waits until chokidar has reported all it holds.
 */
export const SETTLE_QUIET_MS = 250;
/** While chokidar has not caught up with the disk, how often `settle` reads the directories. */
const CATCH_UP_RECHECK_MS = 50;
/** Directories remembered as active between two `settle`s; past this, `settle` reads them all. */
const MAX_ACTIVE_DIRS = 1024;
/**
 * With a baseline, a file counts as changed when its ctime is at most this much before the
 * baseline was written: kernel timestamps come from a coarse clock (a tick behind `Date.now()`),
 * so a write just after could carry a time just before. A file written by the upload in that
 * window is sent once more, unchanged — harmless.
 */
export const CTIME_SLACK_MS = 50;

/** The files the watch starts on (the upload), so the initial scan can run alongside the agent. */
export interface Baseline {
  /** Relative POSIX paths of the files. */
  files: Iterable<string>;
  /** When the last of them was written (ms since the epoch). */
  writtenAtMs: number;
}

/** Never watched (never synced, and they would cost inotify watches). */
const SKIPPED_DIRS = new Set<string>(['.git', ...DEPENDENCY_DIRS]);
const skipped = (rel: string): boolean => rel.split('/').some((s) => SKIPPED_DIRS.has(s));

export class WorkspaceWatcher {
  readonly #root: string;
  #watcher: FSWatcher | null = null;
  readonly #timers = new Map<string, NodeJS.Timeout>();
  /** Paths whose change has settled, in the order they settled. */
  readonly ready = new Set<string>();
  #onReady: () => void = () => undefined;
  /** Resolves once the initial scan is done (at once before `start`). */
  #scanned: Promise<void> = Promise.resolve();
  /** Bumped on every event: lets snapshots know something changed. */
  changeCount = 0;
  #lastEventAtMs = 0;
  /** Absolute paths of directories where something happened since the last `settle`... */
  readonly #activeDirs = new Set<string>();
  /** ...or, past MAX_ACTIVE_DIRS of them, every directory chokidar watches. */
  #activeOverflow = false;

  /**
   * `onError`: told once per kind of error (its code), e.g. ENOSPC when the inotify watches run
   * out — a change the watcher cannot see is never synced back, so it must not go unsaid.
   */
  constructor(
    root: string,
    private readonly onError: (message: string) => void = () => undefined,
  ) {
    this.#root = root;
  }

  /**
   * `onReady` runs when a path is added to `ready`. Resolves when the initial scan is done.
   *
   * Without a baseline, whatever is there at the start is ignored, so nothing may change before
   * this resolves. With one, the scan reports every file and sorts them out itself: a file newer
   * than the baseline, or not in it, is a change; a baseline file the scan never saw was deleted
   * meanwhile. So the agent can start at once — on the 100 MB / 6,000-file upload the scan takes
   * ~0.9 s (chokidar stats and watches every file).
   */
  start(onReady: () => void, baseline?: Baseline): Promise<void> {
    this.#onReady = onReady;
    const watcher = watch(this.#root, {
      ignoreInitial: !baseline,
      alwaysStat: Boolean(baseline),
      followSymlinks: false,
      ignored: (abs) => {
        const rel = path.relative(this.#root, abs);
        return rel !== '' && skipped(rel.split(path.sep).join('/'));
      },
    });
    this.#watcher = watcher;
    let unseen: Set<string> | null = baseline ? new Set([...baseline.files].filter((rel) => !skipped(rel))) : null;
    const changedSinceMs = (baseline?.writtenAtMs ?? 0) - CTIME_SLACK_MS;
    watcher.on('add', (abs: string, stats?: { ctimeMs: number }) => {
      if (unseen) {
        const rel = this.#rel(abs);
        // During the initial scan: an unchanged baseline file is not a change.
        if (unseen.delete(rel) && stats && stats.ctimeMs < changedSinceMs) return;
      }
      this.#touch(abs);
    });
    for (const event of ['change', 'unlink'] as const) {
      watcher.on(event, (abs: string) => this.#touch(abs));
    }
    // Activity chokidar has not reported yet: an inotify event on a watched file or directory
    // (before its stat), a new directory (before its files). `settle` reads these directories.
    watcher.on('raw', (_event, _path, details) => {
      const watched = (details as { watchedPath?: string } | undefined)?.watchedPath;
      if (!watched) return;
      this.#lastEventAtMs = Date.now();
      this.#noteActive(watched); // a directory, or a file (then reading it fails: skipped)
      this.#noteActive(path.dirname(watched));
    });
    watcher.on('addDir', (abs: string) => {
      this.#lastEventAtMs = Date.now();
      this.#noteActive(abs);
    });
    const reported = new Set<string>();
    watcher.on('error', (error: unknown) => {
      const code = (error as NodeJS.ErrnoException).code ?? 'error';
      if (reported.has(code)) return;
      reported.add(code);
      this.onError(`workspace watcher: ${(error as Error).message}${code === 'ENOSPC' ? ' (out of inotify watches: fs.inotify.max_user_watches)' : ''}`);
    });
    this.#scanned = new Promise<void>((resolve) =>
      watcher.once('ready', () => {
        // Baseline files the scan never met were deleted before it got to them.
        for (const rel of unseen ?? []) this.#touch(path.join(this.#root, rel));
        unseen = null;
        resolve();
      }),
    );
    return this.#scanned;
  }

  /** Resolves once the initial scan is done. */
  get scanned(): Promise<void> {
    return this.#scanned;
  }

  /** Paths changed whose debounce has not run out yet. */
  get pendingCount(): number {
    return this.#timers.size;
  }

  /**
   * Resolves once no event came for SETTLE_QUIET_MS, no debounce is pending and chokidar has
   * reported every entry of the directories where something happened (every change made so far
   * is then in `ready`), or after `maxMs`.
   */
  async settle(maxMs: number): Promise<void> {
    if (!this.#watcher) return;
    const startedAtMs = Date.now();
    const deadline = startedAtMs + maxMs;
    await Promise.race([this.#scanned, new Promise((resolve) => setTimeout(resolve, maxMs).unref())]);
    while (Date.now() < deadline) {
      const quietSinceMs = Math.max(startedAtMs, this.#lastEventAtMs);
      if (this.#timers.size === 0 && Date.now() - quietSinceMs >= SETTLE_QUIET_MS) {
        if (await this.#caughtUp()) {
          this.#activeDirs.clear();
          this.#activeOverflow = false;
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, CATCH_UP_RECHECK_MS));
      } else await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /**
   * Whether chokidar has reported every entry now in the active directories and the root (a
   * process starved of CPU may not have read even the inotify events yet). Reading the disk
   * gives chokidar's queued work a turn too.
   */
  async #caughtUp(): Promise<boolean> {
    const watched = this.#watcher?.getWatched();
    if (!watched) return true;
    const dirs = this.#activeOverflow ? Object.keys(watched) : [this.#root, ...this.#activeDirs];
    for (const dir of dirs) {
      const rel = this.#rel(dir);
      if (rel.startsWith('..')) continue; // the root's parent (from the root's own events)
      let names: string[];
      try {
        names = await fs.promises.readdir(dir);
      } catch {
        continue; // gone, not a directory (a watched file), or unreadable: nothing to wait for
      }
      const reported = new Set(watched[path.resolve(dir)] ?? []);
      for (const name of names) {
        if (!reported.has(name) && !skipped(rel ? `${rel}/${name}` : name)) return false;
      }
    }
    return true;
  }

  /** Puts a path back (a send was interrupted). */
  requeue(rel: string): void {
    this.ready.add(rel);
  }

  async close(): Promise<void> {
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#timers.clear();
    await this.#watcher?.close();
    this.#watcher = null;
  }

  #noteActive(abs: string): void {
    if (this.#activeOverflow) return;
    this.#activeDirs.add(abs);
    if (this.#activeDirs.size > MAX_ACTIVE_DIRS) {
      this.#activeOverflow = true;
      this.#activeDirs.clear();
    }
  }

  #rel(abs: string): string {
    return path.relative(this.#root, abs).split(path.sep).join('/');
  }

  #touch(abs: string): void {
    const rel = this.#rel(abs);
    if (rel === '' || rel.startsWith('..')) return;
    this.changeCount += 1;
    this.#lastEventAtMs = Date.now();
    const prior = this.#timers.get(rel);
    if (prior) clearTimeout(prior);
    this.#timers.set(
      rel,
      setTimeout(() => {
        this.#timers.delete(rel);
        // Re-adding moves it to the end: the order follows the last change.
        this.ready.delete(rel);
        this.ready.add(rel);
        this.#onReady();
      }, DEBOUNCE_MS),
    );
  }
}
