/**
 * Tells the client that brings the agent's branches home (`git_home`) when they may have moved:
 * a change under the workspace's `.git/refs` or to `.git/HEAD` / `packed-refs` (a commit, a new
 * branch, a checkout). The workspace watcher never looks inside `.git`, so this one does, for
 * those few names only, coalesced (an agent committing in a loop makes at most one message per
 * DEBOUNCE_MS). Best effort: no `.git` when the agent starts, or a platform without recursive
 * watches, and the branches still come home at detach, exit and stop.
 */
import fs from 'node:fs';
import path from 'node:path';

export const GIT_MOVED_DEBOUNCE_MS = 1_000;
const TOP_LEVEL = new Set(['HEAD', 'packed-refs']);

export interface GitWatch {
  close(): void;
}

export function watchGitRefs(workspace: string, moved: () => void): GitWatch {
  const gitDir = path.join(workspace, '.git');
  const watchers: fs.FSWatcher[] = [];
  let timer: NodeJS.Timeout | null = null;
  const kick = () => {
    timer ??= setTimeout(() => {
      timer = null;
      moved();
    }, GIT_MOVED_DEBOUNCE_MS);
  };
  const watch = (dir: string, recursive: boolean, accept: (name: string) => boolean) => {
    try {
      const watcher = fs.watch(dir, { recursive, persistent: false }, (_event, name) => {
        if (name === null || accept(String(name))) kick();
      });
      watcher.on('error', () => watcher.close());
      watchers.push(watcher);
    } catch {
      // Not there (yet), or not watchable: the other moments still bring the branches home.
    }
  };
  if (fs.lstatSync(gitDir, { throwIfNoEntry: false })?.isDirectory()) {
    watch(gitDir, false, (name) => TOP_LEVEL.has(name));
    watch(path.join(gitDir, 'refs'), true, (name) => name.startsWith('heads'));
  }
  return {
    close() {
      if (timer) clearTimeout(timer);
      for (const watcher of watchers) watcher.close();
    },
  };
}
