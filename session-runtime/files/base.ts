/**
 * The base of the Files view (issue 24): what the agent's changes are shown against — the
 * upload's zip, or the snapshot a resume/fork restored — recorded while it is extracted.
 *
 * Two parts, kept apart on purpose:
 * - the manifest, path → {size, sha256} (and a restored snapshot's links), in this process's
 *   memory only. It is the authority on what the base was.
 * - the content of the base's files (up to a budget), content-addressed and deduplicated by
 *   sha256, appended to one pack file in a private temp directory outside the workspace.
 *
 * Why not a directory the agent cannot write: in every sandbox catty has (bubblewrap maps one
 * uid; the Docker image runs the runtime and the agent as uid 1000; an unsandboxed local machine
 * is the user's own uid) the agent is the runtime's uid, so any file the runtime can write, the
 * agent can rewrite or chmod back. The runtime's memory is what the agent cannot reach (the
 * execute-only node makes it non-dumpable: SECURITY.md 37). So the pack is only a cache: every
 * read of it is checked against the manifest's sha256, and content that fails the check is
 * reported as not kept (`not_kept`), never shown. The agent can make the base's content
 * unavailable, never make the page show a base that was not uploaded.
 * Why not all of it in memory: an idle runtime must stay under 60 MB RSS (PERFORMANCE.md P7).
 *
 * Cost on the upload path: one sha256 per file (~1 GB/s on these VMs: ~80 ms per 100 MB) and
 * kept content queued in ~1 MiB batches written on the thread pool (a few dozen writes for
 * 64 MiB), no file created per entry — creating files is what extraction spends its time on.
 */
import { createHash, type Hash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { tempRoot } from '../config.js';
import { MAX_DIFF_TEXT_BYTES } from '../wire/protocol.js';
import { isGitPath } from '../wire/safe-path.js';

/** Bytes of base content kept (beyond it, only size and sha256: the diff's base is `not_kept`). */
export const BASE_CONTENT_BUDGET_BYTES = 64 * 1024 * 1024;
/** Kept content is written to the pack once this much is waiting. */
const PACK_BATCH_BYTES = 1024 * 1024;
/** Beyond this much being written on the thread pool, a batch is written at once. */
const MAX_IN_FLIGHT_BYTES = 8 * 1024 * 1024;

export type BaseKind = 'upload' | 'restore' | 'none';

/** Where a file's content is in the pack. */
interface Blob {
  offset: number;
  length: number;
}

export interface BaseFile {
  size: number;
  sha256: string;
  /** null: not kept (over the budget, or larger than MAX_DIFF_TEXT_BYTES). */
  blob: Blob | null;
}

export interface BaseLimits {
  /** Bytes of content kept in all. */
  budgetBytes: number;
  /** No single file above this is kept. */
  maxFileBytes: number;
}

const DEFAULT_LIMITS: BaseLimits = { budgetBytes: BASE_CONTENT_BUDGET_BYTES, maxFileBytes: MAX_DIFF_TEXT_BYTES };

export function sha256Hex(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * One append-only file of content, written in batches. `rewind` drops what was appended after a
 * mark (a failed extraction's).
 */
class Pack {
  #fd: number | null = null;
  #dir: string | null = null;
  /** Logical end: the next append's offset. */
  #end = 0;
  /** Everything before this is in the file. */
  #written = 0;
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  /** Writes on the thread pool (to disjoint ranges) and their bytes. */
  readonly #inFlight = new Set<Promise<void>>();
  #inFlightBytes = 0;
  /** A write failed (ENOSPC) or the pack is closed: nothing is read from it. */
  #broken = false;

  constructor(private readonly parent: string) {}

  get end(): number {
    return this.#end;
  }

  append(data: Buffer): void {
    if (data.length === 0) return;
    this.#pending.push(data);
    this.#pendingBytes += data.length;
    this.#end += data.length;
    if (this.#pendingBytes >= PACK_BATCH_BYTES) this.flush();
  }

  /**
   * Forgets everything appended at or after `mark` (a value `end` had). What was already sent to
   * the file stays there unreferenced (a write of it may be in flight: never written over).
   */
  rewind(mark: number): void {
    if (mark >= this.#end) return;
    if (mark <= this.#written) {
      this.#pending = [];
      this.#pendingBytes = 0;
      this.#end = this.#written;
      return;
    }
    let drop = this.#end - mark;
    while (drop > 0) {
      const last = this.#pending.pop() as Buffer;
      if (last.length > drop) this.#pending.push(last.subarray(0, last.length - drop));
      this.#pendingBytes -= Math.min(drop, last.length);
      drop -= last.length;
    }
    this.#end = mark;
  }

  /**
   * Sends what is waiting to the file: on the thread pool (the upload's thread only queues it)
   * while little is in flight; past MAX_IN_FLIGHT_BYTES, here and now, so the batches held in
   * memory stay bounded when the disk is slower than the upload.
   */
  flush(): void {
    if (this.#pending.length === 0) return;
    const parts = this.#pending;
    const bytes = this.#pendingBytes;
    const at = this.#written;
    this.#written += bytes;
    this.#pending = [];
    this.#pendingBytes = 0;
    if (this.#broken) return;
    try {
      const fd = this.#open();
      if (this.#inFlightBytes + bytes > MAX_IN_FLIGHT_BYTES) return writevAtSync(fd, parts, at);
      this.#inFlightBytes += bytes;
      const write = writevAt(fd, parts, at)
        .catch(() => void (this.#broken = true))
        .finally(() => {
          this.#inFlightBytes -= bytes;
          this.#inFlight.delete(write);
        });
      this.#inFlight.add(write);
    } catch {
      this.#broken = true; // ENOSPC: nothing is read from the pack any more
    }
  }

  /** The bytes at [offset, offset + length), or null when the file cannot give them (a failed write, or tampered). */
  async read(offset: number, length: number): Promise<Buffer | null> {
    this.flush();
    await Promise.all(this.#inFlight);
    if (this.#fd === null || this.#broken) return null;
    const out = Buffer.allocUnsafe(length);
    let got = 0;
    while (got < length) {
      const n = fs.readSync(this.#fd, out, got, length - got, offset + got);
      if (n === 0) return null;
      got += n;
    }
    return out;
  }

  close(): void {
    const fd = this.#fd;
    const dir = this.#dir;
    this.#fd = null;
    this.#dir = null;
    this.#broken = true;
    void Promise.all(this.#inFlight).finally(() => {
      if (fd !== null) fs.closeSync(fd);
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });
  }

  #open(): number {
    if (this.#fd !== null) return this.#fd;
    this.#dir = fs.mkdtempSync(path.join(this.parent, 'catty-base-'));
    fs.chmodSync(this.#dir, 0o700);
    this.#fd = fs.openSync(path.join(this.#dir, 'pack'), 'wx+', 0o600);
    return this.#fd;
  }
}

/** `parts` from byte `done` on (what a short write left). */
function remainder(parts: Buffer[], done: number): Buffer[] {
  const out: Buffer[] = [];
  for (const part of parts) {
    if (done >= part.length) done -= part.length;
    else {
      out.push(done > 0 ? part.subarray(done) : part);
      done = 0;
    }
  }
  return out;
}

/** Writes `parts` at `at` in full, on the thread pool (one writev per batch). */
async function writevAt(fd: number, parts: Buffer[], at: number): Promise<void> {
  while (parts.length > 0) {
    const n = await new Promise<number>((resolve, reject) => fs.writev(fd, parts, at, (err, written) => (err ? reject(err) : resolve(written))));
    at += n;
    parts = remainder(parts, n);
  }
}

function writevAtSync(fd: number, parts: Buffer[], at: number): void {
  while (parts.length > 0) {
    const n = fs.writevSync(fd, parts, at);
    at += n;
    parts = remainder(parts, n);
  }
}

/** The recorded base. Empty (`none`) until an upload or a restore is committed. */
export class BaseStore {
  #kind: BaseKind = 'none';
  #files = new Map<string, BaseFile>();
  #links = new Map<string, string>();
  #recordedAtMs = 0;
  readonly #pack: Pack;
  readonly #blobs = new Map<string, Blob>();
  #keptBytes = 0;
  #recording: BaseRecorder | null = null;

  constructor(
    tempDir: string = tempRoot(),
    readonly limits: BaseLimits = DEFAULT_LIMITS,
  ) {
    this.#pack = new Pack(tempDir);
  }

  get kind(): BaseKind {
    return this.#kind;
  }

  /** When the base was complete in the workspace (ms since the epoch); 0 before. */
  get recordedAtMs(): number {
    return this.#recordedAtMs;
  }

  get files(): ReadonlyMap<string, BaseFile> {
    return this.#files;
  }

  /** A restored snapshot's symlinks: path → target. */
  get links(): ReadonlyMap<string, string> {
    return this.#links;
  }

  /** Starts recording a base (one at a time; a new one replaces one not committed). */
  record(kind: Exclude<BaseKind, 'none'>): BaseRecorder {
    this.#recording?.discard();
    this.#recording = new BaseRecorder(this, kind);
    return this.#recording;
  }

  /**
   * A kept file's content, checked against the manifest's sha256; null when it was not kept or
   * the pack no longer holds it (the agent, the runtime's uid, can write the pack: see above).
   */
  async content(file: BaseFile): Promise<Buffer | null> {
    if (!file.blob || file.blob.length !== file.size) return null;
    if (file.size === 0) return file.sha256 === sha256Hex(Buffer.alloc(0)) ? Buffer.alloc(0) : null;
    const data = await this.#pack.read(file.blob.offset, file.blob.length);
    if (!data || sha256Hex(data) !== file.sha256) return null;
    return data;
  }

  dispose(): void {
    this.#recording?.discard();
    this.#pack.close();
  }

  // For BaseRecorder.

  /** Room for `size` more bytes of content? */
  roomFor(size: number): boolean {
    return size <= this.limits.maxFileBytes && this.#keptBytes + size <= this.limits.budgetBytes;
  }

  keptBlob(sha256: string): Blob | undefined {
    return this.#blobs.get(sha256);
  }

  get pack(): Pack {
    return this.#pack;
  }

  keep(sha256: string, blob: Blob): void {
    this.#blobs.set(sha256, blob);
    this.#keptBytes += blob.length;
  }

  /** Forgets content kept from `mark` on (a discarded recording's). */
  forgetFrom(mark: number): void {
    for (const [sha, blob] of this.#blobs) {
      if (blob.offset >= mark) {
        this.#blobs.delete(sha);
        this.#keptBytes -= blob.length;
      }
    }
    this.#pack.rewind(mark);
  }

  commit(recorder: BaseRecorder, kind: Exclude<BaseKind, 'none'>, files: Map<string, BaseFile>, links: Map<string, string>): void {
    if (this.#recording !== recorder) return;
    this.#recording = null;
    this.#pack.flush();
    this.#kind = kind;
    this.#files = files;
    this.#links = links;
    this.#recordedAtMs = Date.now();
  }

  released(recorder: BaseRecorder): void {
    if (this.#recording === recorder) this.#recording = null;
  }
}

/** A file whose content arrives in pieces (a large or streamed entry). */
export interface FileRecording {
  update(chunk: Buffer): void;
  end(): void;
}

/**
 * One extraction's record. The extractors call `file` (a whole small entry) or `begin` (pieces),
 * `link` for a restored symlink; `discard` when an attempt is rolled back (the upload's fast path
 * giving up); the session commits once the workspace is in place.
 */
export class BaseRecorder {
  #files = new Map<string, BaseFile>();
  #links = new Map<string, string>();
  readonly #mark: number;
  #done = false;

  constructor(
    private readonly store: BaseStore,
    readonly kind: Exclude<BaseKind, 'none'>,
  ) {
    this.#mark = store.pack.end;
  }

  /** A file whose whole content is at hand. */
  file(rel: string, data: Buffer): void {
    if (this.#done || isGitPath(rel)) return;
    const sha256 = sha256Hex(data);
    this.#files.set(rel, { size: data.length, sha256, blob: this.#keepWhole(sha256, data) });
  }

  /**
   * A file whose content comes in `update`s; `end` records it. `expectedSize`: its size when
   * known ahead (then a file too large to keep is never collected).
   */
  begin(rel: string, expectedSize?: number): FileRecording {
    // The Files view does not show .git (tree.ts): its objects would only spend the budget and
    // come back as "deleted" files the walk never sees.
    if (isGitPath(rel)) return { update: () => undefined, end: () => undefined };
    const hash: Hash = createHash('sha256');
    let size = 0;
    // Collected until its end (at most maxFileBytes): only then is it known to be new content.
    let parts: Buffer[] | null = !this.#done && this.store.roomFor(expectedSize ?? 0) ? [] : null;
    return {
      update: (chunk) => {
        size += chunk.length;
        hash.update(chunk);
        if (parts && this.store.roomFor(size)) parts.push(chunk);
        else parts = null;
      },
      end: () => {
        if (this.#done) return;
        const sha256 = hash.digest('hex');
        const blob = this.store.keptBlob(sha256) ?? (parts ? this.#append(sha256, parts, size) : null);
        this.#files.set(rel, { size, sha256, blob });
      },
    };
  }

  link(rel: string, target: string): void {
    if (!this.#done && !isGitPath(rel)) this.#links.set(rel, target);
  }

  /** Forgets everything recorded so far (an extraction attempt rolled back); recording goes on. */
  reset(): void {
    this.#files = new Map();
    this.#links = new Map();
    this.store.forgetFrom(this.#mark);
  }

  /** This recording is the base now. */
  commit(): void {
    if (this.#done) return;
    this.#done = true;
    this.store.commit(this, this.kind, this.#files, this.#links);
  }

  /** This recording is dropped (its extraction failed). */
  discard(): void {
    if (this.#done) return;
    this.#done = true;
    this.reset();
    this.store.released(this);
  }

  #keepWhole(sha256: string, data: Buffer): Blob | null {
    const known = this.store.keptBlob(sha256);
    if (known) return known;
    return this.store.roomFor(data.length) ? this.#append(sha256, [data], data.length) : null;
  }

  #append(sha256: string, parts: Buffer[], size: number): Blob {
    const blob = { offset: this.store.pack.end, length: size };
    for (const part of parts) this.store.pack.append(part);
    this.store.keep(sha256, blob);
    return blob;
  }
}
