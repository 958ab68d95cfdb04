/**
 * Watches the workspace and turns file events into a pending set keyed by path. Events on one
 * path within DEBOUNCE_MS coalesce into one entry; a path changed a thousand times while nobody
 * is attached is still one entry. Whether a path is ignored is decided when it is sent (so a
 * changed .gitignore applies at once); chokidar itself skips only `.git/` and dependency folders,
 * which are never synced and would cost inotify watches.
 *
 * chokidar can miss files: it reads a new directory first and only then watches it, so a file
 * created in between gets no event (paulmillr/chokidar#1112, #1471 — seen here as the 64th of 200
 * files in a new directory never synced, and a 1,000-file burst stuck at 253). So every directory
 * where something happened is reconciled once it is quiet and watched: read from disk and
 * compared with what chokidar reported; what it missed is reported here (a missed directory is
 * handed to chokidar to watch).
 */
import fs from 'node:fs';
import path from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import { DEPENDENCY_DIRS } from '../wire/ignore-rules.js';

/** Per-path quiet period before a change is considered complete. */
export const DEBOUNCE_MS = 30;
/**
 * `settle` waits for this long without any event, then reconciles every directory where
 * something happened (a starved runtime may not have read its inotify events yet).
 */
export const SETTLE_QUIET_MS = 250;
/** A directory is reconciled once it had no event for this long... */
const RECONCILE_QUIET_MS = 200;
/** ...or at the latest this long after its first event (a directory that never goes quiet). */
const RECONCILE_MAX_DELAY_MS = 2_000;
/** A directory chokidar has not watched after this long (it could not read it) is read anyway. */
const WATCH_WAIT_MAX_MS = 5_000;
/** How often due directories are looked for while some are waiting. */
const RECONCILE_TICK_MS = 100;
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

/** A directory waiting to be reconciled: its first and last event since the last time. */
interface Dirty {
  firstAtMs: number;
  lastAtMs: number;
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
  #scanDone = false;
  /** Bumped on every event: lets snapshots know something changed. */
  changeCount = 0;
  #lastEventAtMs = 0;
  /** Directories chokidar reported (absolute), to tell a directory's events from a file's. */
  readonly #dirs = new Set<string>();
  /** Directories to reconcile (absolute). */
  readonly #dirty = new Map<string, Dirty>();
  #tick: NodeJS.Timeout | null = null;
  /** Reconciliations run one at a time. */
  #reconciling: Promise<unknown> = Promise.resolve();
  /** Files reported by reconciliation that chokidar has not reported since: directory → names. */
  readonly #selfReported = new Map<string, Set<string>>();
  /** With a baseline, until the scan is done: upload files the scan has not met yet. */
  #unseen: Set<string> | null = null;
  #missedLogged = false;

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
    this.#dirs.add(this.#root);
    this.#unseen = baseline ? new Set([...baseline.files].filter((rel) => !skipped(rel))) : null;
    const counts = (): boolean => this.#scanDone || Boolean(baseline);
    const changedSinceMs = (baseline?.writtenAtMs ?? 0) - CTIME_SLACK_MS;
    watcher.on('add', (abs: string, stats?: { ctimeMs: number }) => {
      this.#selfReported.get(path.dirname(abs))?.delete(path.basename(abs));
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
      this.#markDirty(abs);
    });
    watcher.on('unlinkDir', (abs: string) => {
      this.#dirs.delete(abs);
      this.#dirty.delete(abs);
      // chokidar reports the deletion of the files it knew; these it never knew.
      for (const name of this.#selfReported.get(abs) ?? []) this.#touch(path.join(abs, name));
      this.#selfReported.delete(abs);
    });
    // Every inotify event, before chokidar's stat or readdir: its directory is reconciled later.
    watcher.on('raw', (event: string, _name, details) => {
      const watched = (details as { watchedPath?: string } | undefined)?.watchedPath;
      if (!watched) return;
      this.#lastEventAtMs = Date.now();
      const isDir = this.#dirs.has(watched);
      this.#markDirty(isDir ? watched : path.dirname(watched));
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
        if (baseline) for (const dir of this.#dirs) this.#markDirty(dir);
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
    this.#markDirty(this.#root, 0);
    while (Date.now() < deadline) {
      const quietSinceMs = Math.max(startedAtMs, this.#lastEventAtMs);
      if (this.#timers.size === 0 && Date.now() - quietSinceMs >= SETTLE_QUIET_MS) {
        await this.#reconcileDue(true);
        if (this.#dirty.size === 0 && this.#timers.size === 0) return;
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
    if (this.#tick) clearTimeout(this.#tick);
    this.#tick = null;
    const watcher = this.#watcher;
    this.#watcher = null;
    await watcher?.close();
  }

  #markDirty(dir: string, atMs = Date.now()): void {
    const entry = this.#dirty.get(dir);
    if (entry) entry.lastAtMs = Math.max(entry.lastAtMs, atMs);
    else this.#dirty.set(dir, { firstAtMs: atMs, lastAtMs: atMs });
    this.#scheduleTick();
  }

  #scheduleTick(): void {
    if (this.#tick || !this.#watcher) return;
    this.#tick = setTimeout(() => {
      void this.#reconcileDue(false).then(() => {
        this.#tick = null;
        if (this.#dirty.size > 0) this.#scheduleTick();
      });
    }, RECONCILE_TICK_MS);
    this.#tick.unref();
  }

  /**
   * Reconciles the dirty directories that are due (all of them with `now`) and that chokidar
   * watches already — before that, its own read is still to come.
   */
  #reconcileDue(now: boolean): Promise<void> {
    const run = this.#reconciling.then(async () => {
      for (const dir of [...this.#dirty.keys()]) {
        const entry = this.#dirty.get(dir);
        if (!entry || !this.#watcher) continue;
        const at = Date.now();
        const due = now || at - entry.lastAtMs >= RECONCILE_QUIET_MS || at - entry.firstAtMs >= RECONCILE_MAX_DELAY_MS;
        if (!due || (!this.#isWatched(dir) && at - entry.firstAtMs < WATCH_WAIT_MAX_MS)) continue;
        this.#dirty.delete(dir); // an event during the read marks it again
        await this.#reconcile(dir);
      }
    });
    this.#reconciling = run.catch(() => undefined);
    return run;
  }

  /** Whether chokidar's watch on the directory is set (it registers it after reading it). */
  #isWatched(dir: string): boolean {
    const closers = this.#watcher?._closers;
    // chokidar's bookkeeping (typed in its .d.ts); should it change, reconcile at once.
    if (!(closers instanceof Map)) return true;
    return closers.has(dir) || !fs.existsSync(dir);
  }

  /** Reports what is on disk in `dir` that chokidar never reported, and what left of that. */
  async #reconcile(dir: string): Promise<void> {
    let entries: fs.Dirent[];
    try {
      entries = await fs.promises.readdir(dir, { withFileTypes: true });
    } catch {
      return; // gone, or not readable: chokidar reports what it can
    }
    const watcher = this.#watcher;
    if (!watcher) return;
    const known = watcher._watched.get(dir);
    const relDir = this.#rel(dir);
    if (relDir.startsWith('..')) return;
    let selfReported = this.#selfReported.get(dir);
    const names = new Set<string>();
    let missed = 0;
    for (const entry of entries) {
      names.add(entry.name);
      const rel = relDir ? `${relDir}/${entry.name}` : entry.name;
      if (known?.has(entry.name) || selfReported?.has(entry.name) || skipped(rel) || this.#unseen?.has(rel)) continue;
      missed += 1;
      const abs = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        // chokidar watches it and reports its files; it is reconciled in turn once watched.
        watcher.add(abs);
        this.#markDirty(abs);
      } else {
        if (!selfReported) this.#selfReported.set(dir, (selfReported = new Set()));
        selfReported.add(entry.name);
        this.#touch(abs, false);
      }
    }
    // A file only this reconciliation knew of is gone: chokidar will not report that either.
    for (const name of selfReported ?? []) {
      if (names.has(name)) continue;
      selfReported!.delete(name);
      this.#touch(path.join(dir, name), false);
    }
    if (missed > 0 && !this.#missedLogged) {
      this.#missedLogged = true;
      this.onError(`workspace watcher: ${missed} entries of ${relDir || '.'} were on disk without an event; reporting them (and any later ones) from a re-read`);
    }
  }

  #rel(abs: string): string {
    return path.relative(this.#root, abs).split(path.sep).join('/');
  }

  /** `fromEvent`: an event from chokidar (it counts for `settle`'s quiet period). */
  #touch(abs: string, fromEvent = true): void {
    const rel = this.#rel(abs);
    if (rel === '' || rel.startsWith('..')) return;
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
