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

export class WorkspaceWatcher {
  readonly #root: string;
  #watcher: FSWatcher | null = null;
  readonly #timers = new Map<string, NodeJS.Timeout>();
  /** Paths whose change has settled, in the order they settled. */
  readonly ready = new Set<string>();
  #onReady: () => void = () => undefined;
  /** Bumped on every event: lets snapshots know something changed. */
  changeCount = 0;
  #lastEventAtMs = 0;

  constructor(root: string) {
    this.#root = root;
  }

  /** `onReady` runs when a path is added to `ready`. */
  async start(onReady: () => void): Promise<void> {
    this.#onReady = onReady;
    const skip = new Set<string>(['.git', ...DEPENDENCY_DIRS]);
    const watcher = watch(this.#root, {
      ignoreInitial: true,
      followSymlinks: false,
      ignored: (abs) => {
        const rel = path.relative(this.#root, abs);
        return rel !== '' && rel.split(path.sep).some((s) => skip.has(s));
      },
    });
    this.#watcher = watcher;
    for (const event of ['add', 'change', 'unlink'] as const) {
      watcher.on(event, (abs: string) => this.#touch(abs));
    }
    watcher.on('error', () => undefined);
    await new Promise<void>((resolve) => watcher.once('ready', () => resolve()));
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

  #touch(abs: string): void {
    const rel = path.relative(this.#root, abs).split(path.sep).join('/');
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
