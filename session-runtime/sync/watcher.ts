/**
 * Watches the workspace and turns file events into a pending set keyed by path. Events on one
 * path within DEBOUNCE_MS coalesce into one entry; a path changed a thousand times while nobody
 * is attached is still one entry. Whether a path is ignored is decided when it is sent (so a
 * changed .gitignore applies at once); chokidar itself skips only `.git/` and dependency folders,
 * which are never synced and would cost inotify watches.
 *
 * chokidar can miss files (a file created while it reads a new directory), so every directory
 * where something happened is re-read once it is quiet (reconciler.ts) and what chokidar missed
 * is reported here as well.
 */
import path from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import { DEPENDENCY_DIRS } from '../wire/ignore-rules.js';
import { leavesRoot } from '../wire/safe-path.js';
import { DirectoryReconciler } from './reconciler.js';

/** Per-path quiet period before a change is considered complete. */
export const DEBOUNCE_MS = 30;
/**
 * `settle` waits for this long without any event, then reconciles every directory where
 * something happened (a starved runtime may not have read its inotify events yet).
 */
export const SETTLE_QUIET_MS = 250;
/** While `settle` waits for chokidar to watch directories, how often it looks again. */
const SETTLE_RECHECK_MS = 50;
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
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export class WorkspaceWatcher {
  readonly #root: string;
  #watcher: FSWatcher | null = null;
  readonly #timers = new Map<string, NodeJS.Timeout>();
  /** Paths whose change has settled, in the order they settled. */
  readonly ready = new Set<string>();
  #onReady: () => void = () => undefined;
  /** Resolves once the initial scan is done (at once before `start`). */
  #scanned: Promise<void> = Promise.resolve();
  #scanDone = false;
  /** Bumped on every event: lets snapshots know something changed. */
  changeCount = 0;
  #lastEventAtMs = 0;
  /** Directories chokidar reported (absolute), to tell a directory's events from a file's. */
  readonly #dirs = new Set<string>();
  readonly #reconciler: DirectoryReconciler;
  /** With a baseline, until the scan is done: upload files the scan has not met yet. */
  #unseen: Set<string> | null = null;

  /**
   * `onError`: told once per kind of error (its code), e.g. ENOSPC when the inotify watches run
   * out — a change the watcher cannot see is never synced back, so it must not go unsaid — and
   * once when reconciliation first finds something chokidar missed.
   */
  constructor(
    root: string,
    private readonly onError: (message: string) => void = () => undefined,
  ) {
    this.#root = path.resolve(root);
    this.#reconciler = new DirectoryReconciler({
      rel: (abs) => this.#rel(abs),
      ignored: (rel) => skipped(rel) || this.#unseen?.has(rel) === true,
      report: (abs) => this.#touch(abs, false),
      onMissed: (message) => this.onError(message),
    });
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
    // Initial events are not ignored by chokidar: a directory handed to it later (a missed one)
    // must report its files. Without a baseline they are dropped here until the scan is done.
    const watcher = watch(this.#root, {
      ignoreInitial: false,
      alwaysStat: Boolean(baseline),
      followSymlinks: false,
      ignored: (abs) => {
        const rel = path.relative(this.#root, abs);
        return rel !== '' && skipped(rel.split(path.sep).join('/'));
      },
    });
    this.#watcher = watcher;
    this.#reconciler.watch(watcher);
    this.#dirs.add(this.#root);
    this.#unseen = baseline ? new Set([...baseline.files].filter((rel) => !skipped(rel))) : null;
    const counts = (): boolean => this.#scanDone || Boolean(baseline);
    const changedSinceMs = (baseline?.writtenAtMs ?? 0) - CTIME_SLACK_MS;
    watcher.on('add', (abs: string, stats?: { ctimeMs: number }) => {
      this.#reconciler.reportedByChokidar(abs);
      if (!counts()) return;
      // During the initial scan: an unchanged baseline file is not a change.
      if (this.#unseen?.delete(this.#rel(abs)) && stats && stats.ctimeMs < changedSinceMs) return;
      this.#touch(abs);
    });
    for (const event of ['change', 'unlink'] as const) {
      watcher.on(event, (abs: string) => this.#touch(abs));
    }
    watcher.on('addDir', (abs: string) => {
      this.#dirs.add(abs);
      if (!counts()) return;
      this.#lastEventAtMs = Date.now();
      this.#reconciler.markDirty(abs);
    });
    watcher.on('unlinkDir', (abs: string) => {
      this.#dirs.delete(abs);
      for (const orphan of this.#reconciler.dirRemoved(abs)) this.#touch(orphan);
    });
    // Every inotify event, before chokidar's stat or readdir: its directory is reconciled later.
    watcher.on('raw', (event: string, _name, details) => {
      const watched = (details as { watchedPath?: string } | undefined)?.watchedPath;
      if (!watched) return;
      this.#lastEventAtMs = Date.now();
      const isDir = this.#dirs.has(watched);
      this.#reconciler.markDirty(isDir ? watched : path.dirname(watched));
      // A file's own watch saw it written to (IN_MODIFY/IN_ATTRIB): send it again, whatever
      // chokidar makes of it. chokidar reports a change only when the mtime moved or the atime
      // is not past it, and one large write(2) sets the mtime when it starts: its stat during
      // the write already shows the final mtime beside a partial size, so once the sender had
      // read the file mid-write (moving the atime) the end of the write went unreported and the
      // torn copy stayed on the laptop. chokidar watches a file before it reports it, so every
      // write that ends after the sender's read reaches this watch.
      if (event === 'change' && !isDir) this.#touch(watched);
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
        this.#scanDone = true;
        // Baseline files the scan never met were deleted before it got to them.
        for (const rel of this.#unseen ?? []) this.#touch(path.join(this.#root, rel));
        this.#unseen = null;
        // The agent ran during the scan: any directory may have had a file created between
        // chokidar's read and its watch. Every directory is watched now; check them all once.
        if (baseline) for (const dir of this.#dirs) this.#reconciler.markDirty(dir);
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
   * Resolves once no event came for SETTLE_QUIET_MS, no debounce is pending and every directory
   * where something happened was reconciled (every change made so far is then in `ready`), or
   * after `maxMs`.
   */
  async settle(maxMs: number): Promise<void> {
    if (!this.#watcher) return;
    const startedAtMs = Date.now();
    const deadline = startedAtMs + maxMs;
    await Promise.race([this.#scanned, new Promise((resolve) => setTimeout(resolve, maxMs).unref())]);
    // The root, whatever was seen: a starved runtime may not have read a single event yet.
    this.#reconciler.markDirty(this.#root, 0);
    while (Date.now() < deadline) {
      const quietSinceMs = Math.max(startedAtMs, this.#lastEventAtMs);
      if (this.#timers.size === 0 && Date.now() - quietSinceMs >= SETTLE_QUIET_MS) {
        await this.#reconciler.reconcileDue(true);
        if (this.#reconciler.pendingCount === 0 && this.#timers.size === 0) return;
        await sleep(SETTLE_RECHECK_MS);
      } else await sleep(10);
    }
  }

  /** Puts a path back (a send was interrupted). */
  requeue(rel: string): void {
    this.ready.add(rel);
  }

  async close(): Promise<void> {
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#timers.clear();
    this.#reconciler.close();
    const watcher = this.#watcher;
    this.#watcher = null;
    await watcher?.close();
  }

  #rel(abs: string): string {
    return path.relative(this.#root, abs).split(path.sep).join('/');
  }

  /** `fromEvent`: an event from chokidar (it counts for `settle`'s quiet period). */
  #touch(abs: string, fromEvent = true): void {
    const rel = this.#rel(abs);
    if (rel === '' || leavesRoot(rel)) return;
    this.changeCount += 1;
    if (fromEvent) this.#lastEventAtMs = Date.now();
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
