/**
 * Watches the workspace and turns file events into a pending set keyed by path. Events on one
 * path within DEBOUNCE_MS coalesce into one entry; a path changed a thousand times while nobody
 * is attached is still one entry. Whether a path is ignored is decided when it is sent (so a
 * changed .gitignore applies at once); chokidar itself skips only `.git/` and dependency folders,
 * which are never synced and would cost inotify watches.
 */
import path from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import { DEPENDENCY_DIRS } from '../ignore-rules.js';

/** Per-path quiet period before a change is considered complete. */
export const DEBOUNCE_MS = 30;
/**
 * `settle` waits for this long without any event: chokidar reports a write after an inotify
 * event plus a stat (and a readdir for a new directory), and holds unlinks back 100 ms
 * (`atomic`); on a loaded machine that can take a while.
 */
export const SETTLE_QUIET_MS = 250;
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

  constructor(root: string) {
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
    const skip = new Set<string>(['.git', ...DEPENDENCY_DIRS]);
    const skipped = (rel: string): boolean => rel.split('/').some((s) => skip.has(s));
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
    watcher.on('error', () => undefined);
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
   * Resolves once no event came for SETTLE_QUIET_MS and no debounce is pending (every change
   * made so far is then in `ready`), or after `maxMs`.
   */
  async settle(maxMs: number): Promise<void> {
    if (!this.#watcher) return;
    const startedAtMs = Date.now();
    const deadline = startedAtMs + maxMs;
    await Promise.race([this.#scanned, new Promise((resolve) => setTimeout(resolve, maxMs).unref())]);
    while (Date.now() < deadline) {
      const quietSinceMs = Math.max(startedAtMs, this.#lastEventAtMs);
      if (this.#timers.size === 0 && Date.now() - quietSinceMs >= SETTLE_QUIET_MS) return;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
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
