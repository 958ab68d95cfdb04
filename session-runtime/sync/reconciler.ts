/**
 * Catches what chokidar misses. chokidar reads a new directory first and only then watches it,
 * so a file created in between gets no event (paulmillr/chokidar#1112, #1471 — seen here as the
 * 64th of 200 files in a new directory never synced, and a 1,000-file burst stuck at 253). So
 * every directory where something happened is reconciled once it is quiet and watched: read from
 * disk and compared with what chokidar reported; what it missed is reported (a missed directory
 * is handed to chokidar to watch).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { FSWatcher } from 'chokidar';
import { leavesRoot } from '../wire/safe-path.js';

/** A directory is reconciled once it had no event for this long... */
const RECONCILE_QUIET_MS = 200;
/** ...or at the latest this long after its first event (a directory that never goes quiet). */
const RECONCILE_MAX_DELAY_MS = 2_000;
/** A directory chokidar has not watched after this long (it could not read it) is read anyway. */
const WATCH_WAIT_MAX_MS = 5_000;
/** How often due directories are looked for while some are waiting. */
const RECONCILE_TICK_MS = 100;

/** A directory waiting to be reconciled: its first and last event since the last time. */
interface Dirty {
  firstAtMs: number;
  lastAtMs: number;
}

export interface ReconcilerOptions {
  /** The relative POSIX path of an absolute one ('' for the root, `..…` outside it). */
  rel(abs: string): string;
  /** A path found on disk that is not to be reported (never watched, or the scan will). */
  ignored(rel: string): boolean;
  /** Reports a file a re-read found that chokidar never reported, or found gone again. */
  report(abs: string): void;
  /** Told once, the first time a re-read finds something chokidar missed. */
  onMissed(message: string): void;
}

export class DirectoryReconciler {
  #watcher: FSWatcher | null = null;
  /** Directories to reconcile (absolute). */
  readonly #dirty = new Map<string, Dirty>();
  #tick: NodeJS.Timeout | null = null;
  /** Reconciliations run one at a time. */
  #reconciling: Promise<unknown> = Promise.resolve();
  /** Files reported by reconciliation that chokidar has not reported since: directory → names. */
  readonly #selfReported = new Map<string, Set<string>>();
  #missedLogged = false;

  constructor(private readonly options: ReconcilerOptions) {}

  /** Starts reconciling against this watcher's view (nothing is read before). */
  watch(watcher: FSWatcher): void {
    this.#watcher = watcher;
  }

  /** Directories still waiting to be reconciled. */
  get pendingCount(): number {
    return this.#dirty.size;
  }

  markDirty(dir: string, atMs = Date.now()): void {
    const entry = this.#dirty.get(dir);
    if (entry) entry.lastAtMs = Math.max(entry.lastAtMs, atMs);
    else this.#dirty.set(dir, { firstAtMs: atMs, lastAtMs: atMs });
    this.#scheduleTick();
  }

  /** chokidar reported this file: from now on it reports its deletion too. */
  reportedByChokidar(abs: string): void {
    this.#selfReported.get(path.dirname(abs))?.delete(path.basename(abs));
  }

  /**
   * A directory is gone: nothing of it is reconciled. Returns the files in it only a re-read
   * had reported — chokidar reports the deletion of the files it knew; these it never knew.
   */
  dirRemoved(dir: string): string[] {
    this.#dirty.delete(dir);
    const orphans = [...(this.#selfReported.get(dir) ?? [])].map((name) => path.join(dir, name));
    this.#selfReported.delete(dir);
    return orphans;
  }

  close(): void {
    if (this.#tick) clearTimeout(this.#tick);
    this.#tick = null;
    this.#watcher = null;
  }

  #scheduleTick(): void {
    if (this.#tick || !this.#watcher) return;
    this.#tick = setTimeout(() => {
      void this.reconcileDue(false).then(() => {
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
  reconcileDue(now: boolean): Promise<void> {
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
    const relDir = this.options.rel(dir);
    if (leavesRoot(relDir)) return;
    let selfReported = this.#selfReported.get(dir);
    const names = new Set<string>();
    let missed = 0;
    for (const entry of entries) {
      names.add(entry.name);
      const rel = relDir ? `${relDir}/${entry.name}` : entry.name;
      if (known?.has(entry.name) || selfReported?.has(entry.name) || this.options.ignored(rel)) continue;
      missed += 1;
      const abs = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        // chokidar watches it and reports its files; it is reconciled in turn once watched.
        watcher.add(abs);
        this.markDirty(abs);
      } else {
        if (!selfReported) this.#selfReported.set(dir, (selfReported = new Set()));
        selfReported.add(entry.name);
        this.options.report(abs);
      }
    }
    // A file only this reconciliation knew of is gone: chokidar will not report that either.
    for (const name of selfReported ?? []) {
      if (names.has(name)) continue;
      selfReported!.delete(name);
      this.options.report(path.join(dir, name));
    }
    if (missed > 0 && !this.#missedLogged) {
      this.#missedLogged = true;
      this.options.onMissed(`workspace watcher: ${missed} entries of ${relDir || '.'} were on disk without an event; reporting them (and any later ones) from a re-read`);
    }
  }
}
