/**
 * chokidar reads a new directory and only then watches it; a file created in between gets no
 * event (paulmillr/chokidar#1112, #1471). Here the gap is made certain: chokidar's read of the
 * new directory is wrapped (in real chokidar) so files are created right after it, before the
 * watch. The watcher must still report them — at once and at the agent's exit (`settle`).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { WorkspaceWatcher } from '../../session-runtime/sync/watcher.js';
import { waitFor } from '../helpers/wait.js';

type Read = (directory: string, ...rest: unknown[]) => unknown;
const gap = vi.hoisted(() => ({
  /** Absolute path of the directory whose first read is followed by `act`. */
  dir: '',
  act: (): void => undefined,
  watchers: [] as unknown[],
}));

vi.mock('chokidar', async (importOriginal) => {
  const real = await importOriginal<typeof import('chokidar')>();
  return {
    ...real,
    watch: (...args: Parameters<typeof real.watch>) => {
      const watcher = real.watch(...args);
      gap.watchers.push(watcher);
      const handler = (watcher as unknown as { _nodeFsHandler: { _handleRead: Read } })._nodeFsHandler;
      const read = handler._handleRead.bind(handler);
      handler._handleRead = (directory, ...rest) => {
        const result = read(directory, ...rest);
        if (path.resolve(directory) !== gap.dir) return result;
        gap.dir = '';
        return Promise.resolve(result).then((value) => {
          gap.act();
          return value;
        });
      };
      return watcher;
    },
  };
});

let root = '';
let watcher: WorkspaceWatcher | null = null;
afterEach(async () => {
  await watcher?.close();
  gap.watchers.length = 0;
  fs.rmSync(root, { recursive: true, force: true });
});

async function until(what: string, ok: () => boolean): Promise<void> {
  await waitFor(ok, () => `${what}; ready: ${[...(watcher?.ready ?? [])].join(' ')}`, { timeoutMs: 5_000 });
}

/** Starts a watcher on an empty root; files appear in `new/` between chokidar's read and watch. */
async function startWithGap(): Promise<{ messages: string[] }> {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'catty-watch-race-'));
  const messages: string[] = [];
  watcher = new WorkspaceWatcher(root, (message) => messages.push(message));
  await watcher.start(() => undefined);
  const chokidar = gap.watchers[0] as { _closers: unknown; _watched: unknown };
  // The watcher relies on these two (typed in chokidar's .d.ts); an upgrade must keep them.
  expect(chokidar._closers).toBeInstanceOf(Map);
  expect(chokidar._watched).toBeInstanceOf(Map);
  gap.dir = path.join(root, 'new');
  gap.act = () => {
    fs.writeFileSync(path.join(root, 'new/late.txt'), 'late\n');
    fs.mkdirSync(path.join(root, 'new/sub'));
    fs.writeFileSync(path.join(root, 'new/sub/deep.txt'), 'deep\n');
  };
  fs.mkdirSync(path.join(root, 'new'));
  fs.writeFileSync(path.join(root, 'new/a.txt'), 'a\n');
  return { messages };
}

describe('WorkspaceWatcher and files chokidar never reports', () => {
  it('reports files and directories created between the read of a new directory and its watch', async () => {
    const { messages } = await startWithGap();
    await until('all three files', () => ['new/a.txt', 'new/late.txt', 'new/sub/deep.txt'].every((rel) => watcher!.ready.has(rel)));
    expect(messages.join('\n')).toMatch(/on disk without an event/);
    // The missed directory is watched from now on...
    watcher!.ready.clear();
    fs.writeFileSync(path.join(root, 'new/sub/deep.txt'), 'deeper\n');
    await until('the edit in the missed directory', () => watcher!.ready.has('new/sub/deep.txt'));
    // ...and the deletion of the missed file is reported with the rest.
    watcher!.ready.clear();
    fs.rmSync(path.join(root, 'new'), { recursive: true });
    await until('the deletions', () => ['new/a.txt', 'new/late.txt', 'new/sub/deep.txt'].every((rel) => watcher!.ready.has(rel)));
  });

  it('has them all in `ready` when settle returns (the agent exited right after writing)', async () => {
    await startWithGap();
    await watcher!.settle(10_000); // every change made so far is in `ready` now
    expect([...watcher!.ready].sort()).toEqual(['new/a.txt', 'new/late.txt', 'new/sub/deep.txt']);
  });
});
