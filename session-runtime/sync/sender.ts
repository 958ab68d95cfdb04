/**
 * Sends settled workspace changes to the client that enabled sync-back, one file at a time,
 * reading each file when it is sent (latest content; gone → delete). It waits for the socket to
 * drain between messages, so a burst of 10,000 changes or a 50 MiB file never piles up in
 * memory: at most one file's content is held.
 */
import { createHash } from 'node:crypto';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { ClientSocket } from '../client-socket.js';
import { IGNORE_FILES, IgnoreRules } from '../wire/ignore-rules.js';
import { FILE_CHUNK_BYTES, type RuntimeMessage } from '../wire/protocol.js';
import { isGitPath, relativePathProblem, resolveInside } from '../wire/safe-path.js';
import type { WorkspaceWatcher } from './watcher.js';

/** Start another message only when less than this is still queued in the socket. */
export const SYNC_DRAIN_BYTES = 512 * 1024;
/** At agent exit: how long the watcher may take to report the agent's last writes. */
export const EXIT_SETTLE_MAX_MS = 2_000;
/** At agent exit: how long sending what is pending may take before `exit` goes out anyway. */
export const EXIT_FLUSH_MAX_MS = 30_000;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export class SyncSender {
  #channel: ClientSocket | null = null;
  #running = false;
  #transfer = 0;
  /**
   * Nothing acknowledges file messages, and a cut connection loses what was in flight. So for
   * every path sent, remember the output log's end at that moment: a client that later resumes
   * from an offset past it has received an output byte written after the message — on the same
   * ordered stream — hence the message too. Every other path is sent again (latest content)
   * when the next client enables sync: the runtime cannot know what that client has (a new
   * `catty connect` brings no offset, and may run on another laptop). The CLI's base manifest
   * decides: a version equal to its base is nothing to do, whatever the user did to the file
   * since (the three-way rule, cli/sync/applier.ts). Found by the soak. Bounded by the number of
   * distinct paths sent since a client last resumed past them.
   */
  readonly #unconfirmed = new Map<string, number>();
  #position: () => number = () => 0;
  readonly #rules: IgnoreRules;

  constructor(
    private readonly root: string,
    private readonly watcher: WorkspaceWatcher,
    private readonly maxFileBytes: number,
  ) {
    this.#rules = new IgnoreRules(root, { ignoreGit: true });
  }

  setChannel(channel: ClientSocket | null, resumeOffset?: number): void {
    if (channel && channel !== this.#channel) {
      for (const [rel, outputEnd] of this.#unconfirmed) {
        if (resumeOffset === undefined || resumeOffset <= outputEnd) this.watcher.requeue(rel);
      }
      this.#unconfirmed.clear();
    }
    this.#channel = channel;
    this.kick();
  }

  bindOutputPosition(position: () => number): void {
    this.#position = position;
  }

  /**
   * At agent exit: waits for the watcher to settle (event latency + debounce), then until
   * everything pending was sent and the socket drained. null without a sync client. Bounded by
   * EXIT_SETTLE_MAX_MS + EXIT_FLUSH_MAX_MS; gives up early if the client goes away.
   */
  flushPending(): Promise<void> | null {
    const channel = this.#channel;
    if (!channel) return null;
    return (async () => {
      await this.watcher.settle(EXIT_SETTLE_MAX_MS);
      this.kick();
      const deadline = Date.now() + EXIT_FLUSH_MAX_MS;
      const busy = (): boolean => this.#running || this.watcher.ready.size > 0 || this.watcher.pendingCount > 0 || channel.bufferedAmount > 0;
      while (Date.now() < deadline && this.#channel === channel && channel.isOpen && busy()) await sleep(5);
    })();
  }

  /** Something new is ready (or a client came back): start the send loop if idle. */
  kick(): void {
    if (this.#running || !this.#channel) return;
    this.#running = true;
    void this.#loop().finally(() => {
      this.#running = false;
      if (this.#channel && this.watcher.ready.size > 0) this.kick();
    });
  }

  async #loop(): Promise<void> {
    while (this.#channel && this.watcher.ready.size > 0) {
      const rel = this.watcher.ready.values().next().value as string;
      this.watcher.ready.delete(rel);
      const channel = this.#channel;
      const base = path.posix.basename(rel);
      if ((IGNORE_FILES as readonly string[]).includes(base)) this.#rules.invalidate(path.posix.dirname(rel) === '.' ? '' : path.posix.dirname(rel));
      if (relativePathProblem(rel) || isGitPath(rel) || this.#rules.ignoresWithAncestors(rel, false)) continue;
      const ok = await this.#sendOne(channel, rel);
      if (!ok) this.watcher.requeue(rel);
      else {
        this.#unconfirmed.delete(rel);
        this.#unconfirmed.set(rel, this.#position());
      }
    }
  }

  /** Returns false when the channel went away before the file was fully sent. */
  async #sendOne(channel: ClientSocket, rel: string): Promise<boolean> {
    const abs = resolveInside(this.root, rel);
    if (!abs) return true;
    let stat;
    try {
      stat = await fsp.lstat(abs);
    } catch {
      return this.#send(channel, { type: 'file_change', path: rel, action: 'delete' });
    }
    if (!stat.isFile()) return true; // symlinks, devices and directories are not synced
    if (stat.size > this.maxFileBytes) {
      return this.#send(channel, { type: 'file_skipped', path: rel, size: stat.size, reason: 'too_large' });
    }
    let content: Buffer;
    try {
      content = await fsp.readFile(abs);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return this.#send(channel, { type: 'file_change', path: rel, action: 'delete' });
      return this.#send(channel, { type: 'file_skipped', path: rel, size: stat.size, reason: 'unreadable' });
    }
    if (content.length > this.maxFileBytes) {
      return this.#send(channel, { type: 'file_skipped', path: rel, size: content.length, reason: 'too_large' });
    }
    const head = {
      type: 'file_change' as const,
      path: rel,
      action: 'write' as const,
      executable: (stat.mode & 0o100) !== 0,
      size: content.length,
      sha256: createHash('sha256').update(content).digest('hex'),
    };
    if (content.length <= FILE_CHUNK_BYTES) return this.#send(channel, { ...head, content: content.toString('base64') });
    const transfer = this.#transfer++;
    const chunks = Math.ceil(content.length / FILE_CHUNK_BYTES);
    if (!(await this.#send(channel, { ...head, chunks, transfer }))) return false;
    for (let index = 0; index < chunks; index++) {
      const data = content.subarray(index * FILE_CHUNK_BYTES, (index + 1) * FILE_CHUNK_BYTES).toString('base64');
      if (!(await this.#send(channel, { type: 'file_chunk', transfer, index, data }))) return false;
    }
    return true;
  }

  async #send(channel: ClientSocket, message: RuntimeMessage): Promise<boolean> {
    if (!(await this.#drained(channel))) return false;
    channel.sendMessage(message);
    return true;
  }

  /** Waits until the socket has room; false if it closed or sync was switched off meanwhile. */
  async #drained(channel: ClientSocket): Promise<boolean> {
    while (this.#channel === channel && channel.isOpen && channel.bufferedAmount > SYNC_DRAIN_BYTES) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    return this.#channel === channel && channel.isOpen;
  }
}
