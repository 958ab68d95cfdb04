/**
 * Applies the session machine's file messages to the local directory (SECURITY.md 10–18), in
 * order, off the terminal's path: `handle()` only queues (coalescing queued whole-file changes
 * to the same path), and one async worker applies them. When queued content passes
 * HIGH_WATER_BYTES the owner is asked to pause the socket, and resumed below LOW_WATER_BYTES —
 * so a flood costs bounded memory and keystrokes keep flowing. What a change does to a file is
 * the three-way rule against the base manifest (#destination, #delete): a message is a claim
 * about the session's version, never an order to overwrite what the user changed. Before that,
 * every path passes admission.ts (SECURITY.md 46, 47: nothing ignored, nothing of git's); the
 * decision is taken again where the file is committed, just before the rename, which happens
 * only if the destination is still what the decision saw (49); a conflict copy the user touched
 * is never replaced (50).
 *
 * Whole-file writes to unrelated paths are applied up to WRITE_CONCURRENCY at a time: each is
 * some eight file-system calls ending in an fsync and a rename, and a burst of small files waits
 * on their latency, not on the disk's throughput (1,000 small files through this applier on the
 * 2-core test machine: 3.4–5.0 s one at a time, 2.0–2.6 s four at a time; P5's burst end to end,
 * 6 alternating pairs: median 2.33 s four at a time, 1.89 s sixteen — won 5 of 6). "Unrelated" is
 * decided on case-folded paths, so a case-insensitive disk cannot merge two of them: not the
 * same path, neither inside the other, and neither one's conflict copy the other. Everything
 * else — deletes, chunked transfers, skips, resets, a write related to one in flight, and a
 * write that decides others (a rule file, a git dir's marker) or may be a conflict copy — waits
 * until the writes in flight are done, then runs alone, so the order of related changes is the
 * order they were sent in.
 */
import type { FileChangeMessage, FileChunkMessage, FileSkippedMessage } from '../../session-runtime/wire/protocol.js';
import { DEFAULT_MAX_SYNC_FILE_BYTES } from '../../session-runtime/wire/protocol.js';
import type { ManifestStore } from '../sessions/store.js';
import { outerIgnoreRules } from '../packer/git.js';
import { SyncReport } from './report.js';
import { Admission, isRuleFile, touchesGitShape } from './admission.js';
import { Refusal, TempFile, checkParents, checkRemotePath, checkTarget, conflictPath, localState, removeIfUnchanged, type LocalState, type Stamp } from './local-fs.js';

/** Queued (base64) bytes above which the socket is paused, and below which it is resumed. */
const HIGH_WATER_BYTES = 32 * 1024 * 1024;
const LOW_WATER_BYTES = 8 * 1024 * 1024;
/** The same by count, so a flood of content-less messages (deletes) stays bounded too. */
const HIGH_WATER_OPS = 20_000;
const LOW_WATER_OPS = 5_000;
/** Unrelated whole-file writes applied at once (see above). */
const WRITE_CONCURRENCY = 16;
/** Conflict copies of one file kept side by side before a write is refused. */
const MAX_CONFLICT_COPIES = 100;
/** Decisions taken again when the local file changes between the decision and the rename. */
const COMMIT_ATTEMPTS = 5;

type Op =
  | { kind: 'reset' }
  | { kind: 'change'; msg: FileChangeMessage }
  | { kind: 'chunk'; msg: FileChunkMessage }
  | { kind: 'skipped'; msg: FileSkippedMessage };

interface Transfer {
  id: number;
  rel: string;
  msg: FileChangeMessage;
  /** null when the transfer was refused or has nothing to change: its chunks are read and dropped. */
  temp: TempFile | null;
  next: number;
}

export interface ApplierOptions {
  root: string;
  label: string;
  manifest: ManifestStore;
  report: SyncReport;
  maxFileBytes?: number;
  /** What may be written (admission.ts); by default the upload's rules for `root`. */
  admission?: Admission;
}

export class SyncApplier {
  readonly #o: ApplierOptions;
  readonly #maxFileBytes: number;
  readonly #admission: Admission;
  readonly #queue: Op[] = [];
  /** Queued whole-file changes by path, for coalescing. */
  readonly #queuedByPath = new Map<string, Op & { kind: 'change' }>();
  #queuedBytes = 0;
  #paused = false;
  #running: Promise<void> | null = null;
  /** Wakes the worker when it waits on writes in flight and a new op is queued. */
  #wake: (() => void) | null = null;
  #transfer: Transfer | null = null;
  #closed = false;
  #onPressure: ((paused: boolean) => void) | null = null;

  constructor(options: ApplierOptions) {
    this.#o = options;
    this.#maxFileBytes = options.maxFileBytes ?? DEFAULT_MAX_SYNC_FILE_BYTES;
    this.#admission = options.admission ?? new Admission(options.root, outerIgnoreRules(options.root));
  }

  handle(msg: FileChangeMessage | FileChunkMessage | FileSkippedMessage): void {
    if (this.#closed) return;
    if (msg.type === 'file_change' && msg.chunks === undefined) {
      const queued = this.#queuedByPath.get(msg.path);
      if (queued) {
        // A newer whole-file change supersedes a queued one for the same path.
        this.#queuedBytes += (msg.content?.length ?? 0) - (queued.msg.content?.length ?? 0);
        queued.msg = msg;
        return;
      }
    }
    // A chunked change must not be overtaken by a later change coalescing into an earlier one.
    if (msg.type === 'file_change' && msg.chunks !== undefined) this.#queuedByPath.delete(msg.path);
    const op: Op = msg.type === 'file_change' ? { kind: 'change', msg } : msg.type === 'file_chunk' ? { kind: 'chunk', msg } : { kind: 'skipped', msg };
    if (op.kind === 'change' && op.msg.chunks === undefined) this.#queuedByPath.set(op.msg.path, op);
    this.#queuedBytes += opBytes(op);
    this.#queue.push(op);
    this.#pressure();
    this.#kick();
  }

  /** A new connection: a transfer cut by the old one will not continue (the runtime sends the
   * file again), so drop it quietly once the queue reaches this point. */
  reconnected(): void {
    if (this.#closed) return;
    this.#queue.push({ kind: 'reset' });
    this.#kick();
  }

  /** Called after a push: starts the worker (it takes the op at once) or wakes it. The queue is
   * not empty, so the worker awaits before it can finish and clear `#running`. */
  #kick(): void {
    this.#running ??= this.#drain();
    this.#wake?.();
  }

  /** Who to tell when the queue passes the water marks (the current connection). */
  setPressureListener(listener: ((paused: boolean) => void) | null): void {
    this.#onPressure = listener;
    if (listener && this.#paused) listener(true);
  }

  /** Resolves once everything queued so far has been applied. */
  async idle(): Promise<void> {
    while (this.#running) await this.#running;
  }

  /** Stops taking messages, finishes what is queued, drops a half-received transfer. */
  async close(): Promise<void> {
    await this.idle();
    this.#closed = true;
    await this.#transfer?.temp?.discard();
    this.#transfer = null;
    this.#o.manifest.flush();
  }

  async #drain(): Promise<void> {
    /** Writes in flight, each with the case-folded paths it may create. */
    const inFlight = new Map<Promise<void>, string[]>();
    const related = (keys: string[]): boolean => [...inFlight.values()].some((busy) => keys.some((k) => busy.some((b) => overlaps(k, b))));
    try {
      for (;;) {
        const op = this.#queue.shift();
        if (!op) {
          if (inFlight.size === 0) return;
          await Promise.race([...inFlight.keys(), new Promise<void>((resolve) => (this.#wake = resolve))]);
          this.#wake = null;
          continue;
        }
        if (op.kind === 'change' && this.#queuedByPath.get(op.msg.path) === op) this.#queuedByPath.delete(op.msg.path);
        this.#queuedBytes -= opBytes(op);
        this.#pressure();
        const keys = this.#concurrentKeys(op);
        if (!keys || related(keys)) await Promise.all(inFlight.keys());
        while (inFlight.size >= WRITE_CONCURRENCY) await Promise.race(inFlight.keys());
        const applied = this.#apply(op).catch((error: unknown) => this.#failed(op, error));
        if (!keys) {
          await applied;
          continue;
        }
        const tracked: Promise<void> = applied.finally(() => inFlight.delete(tracked));
        inFlight.set(tracked, keys);
      }
    } finally {
      this.#running = null;
    }
  }

  /** The case-folded paths a whole-file write may create; null for an op that runs alone. */
  #concurrentKeys(op: Op): string[] | null {
    if (op.kind !== 'change' || op.msg.action !== 'write' || op.msg.chunks !== undefined || this.#transfer) return null;
    // Alone: what decides other writes (rule files, a git dir's shape) or may be a conflict copy.
    const rel = op.msg.path;
    if (isRuleFile(rel) || touchesGitShape(rel) || rel.includes('.catty-conflict-')) return null;
    const fold = (rel: string): string => rel.normalize('NFC').toLowerCase();
    return [fold(op.msg.path), fold(conflictPath(op.msg.path, this.#o.label))];
  }

  #pressure(): void {
    if (!this.#paused && (this.#queuedBytes > HIGH_WATER_BYTES || this.#queue.length > HIGH_WATER_OPS)) {
      this.#paused = true;
      this.#onPressure?.(true);
    } else if (this.#paused && this.#queuedBytes < LOW_WATER_BYTES && this.#queue.length < LOW_WATER_OPS) {
      this.#paused = false;
      this.#onPressure?.(false);
    }
  }

  #failed(op: Op, error: unknown): void {
    if (op.kind === 'reset') return;
    const rel = op.kind === 'chunk' ? (this.#transfer?.rel ?? `transfer ${op.msg.transfer}`) : op.msg.path;
    const why = error instanceof Refusal ? error.message : `error: ${(error as Error).message}`;
    this.#o.report.refuse(rel, why);
  }

  async #apply(op: Op): Promise<void> {
    switch (op.kind) {
      case 'reset':
        if (this.#transfer) this.#o.report.log(`dropped the unfinished transfer of ${this.#transfer.rel} (connection lost)`);
        await this.#transfer?.temp?.discard();
        this.#transfer = null;
        return;
      case 'change':
        if (this.#transfer) await this.#abandonTransfer('a new change arrived before the transfer finished');
        if (op.msg.action === 'delete') return this.#delete(op.msg);
        if (op.msg.chunks !== undefined) return this.#startTransfer(op.msg);
        return this.#writeWhole(op.msg);
      case 'chunk':
        return this.#chunk(op.msg);
      case 'skipped':
        this.#o.report.skip(op.msg.path, op.msg.reason === 'too_large' ? `too large (${op.msg.size} bytes)` : 'unreadable in the session');
        return;
      default: {
        const never: never = op;
        throw new Error(`unknown op ${String(never)}`);
      }
    }
  }

  #expected(msg: FileChangeMessage): Version & { size: number } {
    if (msg.size === undefined || msg.sha256 === undefined) throw new Refusal('a write without size and sha256');
    if (msg.size > this.#maxFileBytes) throw new Refusal(`larger than the sync cap (${msg.size} bytes)`);
    return { size: msg.size, sha256: msg.sha256, executable: msg.executable === true };
  }

  /** The absolute target of a path from the session, once it is valid and admitted. */
  #checkPath(rel: string): string {
    const target = checkRemotePath(this.#o.root, rel);
    this.#admission.check(rel);
    return target;
  }

  /**
   * Decides where a write goes, by the three-way rule (DESIGN.md "Sync-back"; the base is the
   * manifest's entry): nowhere when the session's version is the base — a version sent again (the
   * runtime cannot know what this laptop has: the client may be another process, or another
   * laptop) leaves alone what the user changed or deleted since — or is already in the file; the
   * file itself when its content is still the base's (absent here and in the base: a create); a
   * conflict copy beside it otherwise. Only content counts as a local change, not the exec bit
   * alone: a file system may not keep it. `stamp` is the state of the destination the decision
   * was taken on (null: nothing there), for the rename to check (#commit).
   */
  async #destination(rel: string, announced: Version): Promise<{ target: string; conflict: boolean; stamp: Stamp | null } | null> {
    const remote: Version = { sha256: announced.sha256, executable: announced.executable };
    const target = this.#checkPath(rel);
    const base = this.#o.manifest.get(rel);
    if (base && sameVersion(base, remote)) return null;
    await checkParents(this.#o.root, target, true);
    const local = await localState(target);
    if (local.kind === 'file' && sameVersion(local, remote)) {
      this.#o.manifest.set(rel, remote);
      return null; // already there
    }
    if (local.kind === 'absent' ? !base : base?.sha256 === local.sha256) return { target, conflict: false, stamp: stampOf(local) };
    if (local.kind === 'file' && local.sha256 === remote.sha256) {
      // Both sides made the same edit; only the exec bit differs: the user's file stays as it is.
      this.#o.manifest.set(rel, remote);
      return null;
    }
    return this.#conflictCopy(target, base?.sha256 ?? null);
  }

  /**
   * Where the session's version goes beside the user's file: the first conflict-copy name that
   * is free, or that holds what this laptop last got from the session for it (the base: the
   * copy written last, untouched since). A copy the user edited (merging into it, say), and
   * anything else squatting on the name — a link, a directory — is left alone: the next name is
   * tried (`<name>.catty-conflict-<label>-2<.ext>`, …).
   */
  async #conflictCopy(target: string, baseSha: string | null): Promise<{ target: string; conflict: true; stamp: Stamp | null }> {
    for (let n = 1; n <= MAX_CONFLICT_COPIES; n++) {
      const copy = conflictPath(target, this.#o.label, n);
      let state: LocalState;
      try {
        state = await localState(copy);
      } catch (error) {
        if (error instanceof Refusal) continue;
        throw error;
      }
      if (state.kind === 'absent' || state.sha256 === baseSha) return { target: copy, conflict: true, stamp: stampOf(state) };
    }
    throw new Refusal(`${MAX_CONFLICT_COPIES} conflict copies of it are here already`);
  }

  async #writeWhole(msg: FileChangeMessage): Promise<void> {
    const expected = this.#expected(msg);
    const content = Buffer.from(msg.content ?? '', 'base64');
    const early = await this.#destination(msg.path, expected);
    if (!early) return;
    const temp = await TempFile.create(early.target);
    try {
      await temp.write(content);
      await temp.seal(expected);
    } catch (error) {
      await temp.discard();
      throw error;
    }
    await this.#commit(msg.path, temp, expected);
  }

  /**
   * Places a sealed temp file: the decision (admission and the three-way rule) is taken where
   * the file is committed, just before the rename — not when the write started — and the rename
   * happens only if the destination is still in the state the decision saw (TempFile.place); if
   * the user saved in between, the decision is taken again. The temp file is in the target's
   * directory, so a conflict copy beside it is a rename in the same directory too.
   */
  async #commit(rel: string, temp: TempFile, expected: Version & { size: number }): Promise<void> {
    try {
      for (let attempt = 0; attempt < COMMIT_ATTEMPTS; attempt++) {
        const dest = await this.#destination(rel, expected);
        if (!dest) return await temp.discard();
        if (await temp.place(dest.target, dest.stamp)) {
          this.#written(rel, expected, dest.conflict);
          return;
        }
      }
      throw new Refusal('the local file kept changing while it was written');
    } catch (error) {
      await temp.discard();
      throw error;
    }
  }

  /**
   * A conflict copy moves the base too: this laptop has the session's version now (beside the
   * user's file), so the same version sent again is nothing to do, and the user's file is
   * overwritten later only if the user makes it equal to that version.
   */
  #written(rel: string, expected: Version, conflict: boolean): void {
    this.#o.manifest.set(rel, { sha256: expected.sha256, executable: expected.executable });
    if (conflict) {
      this.#o.report.conflict(rel);
      this.#o.report.log(`conflict ${rel}: local edit kept, session's version beside it`);
      return;
    }
    this.#o.report.wrote(rel);
    this.#o.report.log(`wrote ${rel}`);
  }

  async #startTransfer(msg: FileChangeMessage): Promise<void> {
    const transfer: Transfer = { id: msg.transfer ?? -1, rel: msg.path, msg, temp: null, next: 0 };
    this.#transfer = transfer;
    if (msg.transfer === undefined) throw new Refusal('a chunked write without a transfer id');
    const expected = this.#expected(msg);
    const target = this.#checkPath(msg.path);
    const base = this.#o.manifest.get(msg.path);
    if (base && sameVersion(base, expected)) return; // the session's version is the base
    // Refused before anything is received: a linked parent, a link or directory at the target.
    await checkParents(this.#o.root, target, true);
    await checkTarget(target);
    // What to do with it is decided once it is all here (#commit).
    transfer.temp = await TempFile.create(target);
  }

  async #chunk(msg: FileChunkMessage): Promise<void> {
    const transfer = this.#transfer;
    if (!transfer || transfer.id !== msg.transfer) throw new Refusal(`a chunk of unknown transfer ${msg.transfer}`);
    if (msg.index !== transfer.next) {
      await this.#abandonTransfer(`chunk ${msg.index} out of order`);
      return;
    }
    transfer.next++;
    const last = transfer.next === transfer.msg.chunks;
    if (transfer.temp) {
      const data = Buffer.from(msg.data, 'base64');
      if (transfer.temp.size + data.length > (transfer.msg.size ?? 0)) {
        await this.#abandonTransfer('more data than announced');
        return;
      }
      await transfer.temp.write(data);
    }
    if (!last) return;
    this.#transfer = null;
    const temp = transfer.temp;
    if (!temp) return;
    const expected = this.#expected(transfer.msg);
    try {
      await temp.seal(expected);
    } catch (error) {
      await temp.discard();
      throw error;
    }
    // Decided now, at the rename, not when the transfer started: the user may have edited or
    // deleted the file while the chunks came (50 MiB take seconds, at the runtime's pace).
    await this.#commit(transfer.rel, temp, expected);
  }

  async #abandonTransfer(why: string): Promise<void> {
    const transfer = this.#transfer;
    this.#transfer = null;
    if (!transfer) return;
    await transfer.temp?.discard();
    if (transfer.temp) throw new Refusal(`${transfer.rel}: ${why}`);
  }

  /**
   * The three-way rule for a delete: nothing to do when the base has no such file (the session
   * deleted what it had made, or a delete sent again); the file goes only if its content is still
   * the base's; a file changed here stays, and is reported. Either way the base forgets it.
   */
  async #delete(msg: FileChangeMessage): Promise<void> {
    const target = this.#checkPath(msg.path);
    const base = this.#o.manifest.get(msg.path);
    if (!base) return;
    const local = (await checkParents(this.#o.root, target, false)) ? await localState(target) : ({ kind: 'absent' } as const);
    // A file saved since it was read is a change too (removeIfUnchanged).
    if (local.kind === 'file' && (local.sha256 !== base.sha256 || !(await removeIfUnchanged(target, local.stamp)))) {
      this.#o.manifest.delete(msg.path);
      this.#o.report.keptDelete(msg.path);
      this.#o.report.log(`not deleted ${msg.path}: changed locally since the last sync`);
      return;
    }
    this.#o.manifest.delete(msg.path);
    if (local.kind === 'absent') return;
    this.#o.report.removed(msg.path);
    this.#o.report.log(`deleted ${msg.path}`);
  }
}

/** A file's version as sync-back compares it: content and exec bit. */
type Version = { sha256: string; executable: boolean };

function stampOf(state: LocalState): Stamp | null {
  return state.kind === 'file' ? state.stamp : null;
}

function sameVersion(a: Version, b: Version): boolean {
  return a.sha256 === b.sha256 && a.executable === b.executable;
}

/** Whether two relative paths are the same or one lies inside the other. */
function overlaps(a: string, b: string): boolean {
  return a === b || a.startsWith(`${b}/`) || b.startsWith(`${a}/`);
}

function opBytes(op: Op): number {
  if (op.kind === 'reset') return 0;
  if (op.kind === 'chunk') return op.msg.data.length;
  if (op.kind === 'change') return op.msg.content?.length ?? 0;
  return 0;
}
