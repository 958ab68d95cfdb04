/**
 * The fast path of POST /upload: extracts entries while the body is still arriving, so the
 * machine creates files (the slow part here: ~0.5 ms of kernel time each) while the CLI is still
 * zipping and sending. Measured on the 100 MB / 6,000-file tree, this overlaps the ~3 s of
 * receiving with the ~3–5 s of extraction that used to follow it.
 *
 * It is only a fast path. Every check of the ordinary path (zip-plan.ts) runs here too, on the
 * local headers as they come, and at the end the central directory must describe exactly what
 * was streamed (names, sizes, CRCs, offsets, kinds). On any doubt — a refusal, something the
 * streaming reader cannot delimit, a disagreement with the central directory, an I/O error — it
 * stops, the caller removes everything it created (`rollback`) and extracts the spooled archive
 * the ordinary way, which gives the authoritative answer (and the usual error for a hostile
 * archive). So an upload is still accepted or refused whole, on the same terms as before.
 *
 * An entry whose sizes come after its data (a data descriptor) is held to the compression-ratio
 * cap while it inflates: bytes written against compressed bytes the inflater has taken, checked
 * before each write. A bomb stops after about RATIO_MIN_BYTES written (the ordinary path then
 * refuses it from the central directory, before writing anything), not at the end of its data.
 */
import fs from 'node:fs';
import { Writable } from 'node:stream';
import zlib from 'node:zlib';
import type { BaseRecorder, FileRecording } from '../files/base.js';
import { SMALL_ENTRY_BYTES, type ExtractResult } from './extract.js';
import { WorkspaceWriter, decodeEntry, writeAll } from './workspace-writer.js';
import { NotStreamable, ZipStreamReader, type CentralRecord, type LocalEntry, type ZipRecord } from './zip-stream.js';
import { NameClaims, checkCompressionRatio, checkEntryName, entryKind, isMacMetadata, overRatio, type ZipLimits } from './zip-plan.js';

export type StreamOutcome = { ok: true; result: ExtractResult } | { ok: false; reason: string };

const FLAG_UTF8 = 0x0800;

/** Extra fields that change how an entry reads elsewhere: Info-ZIP Unicode path, zip64. */
const DISQUALIFYING_EXTRA_IDS = new Set([0x7075, 0x0001]);

interface Streamed {
  local: LocalEntry;
  rel: string;
  /** `skip`: macOS metadata, read and never written. */
  kind: 'file' | 'dir' | 'skip';
  /** '' for a directory. */
  abs: string;
  crc32: number;
  compressedSize: number;
  size: number;
}

/** Where the current file entry's data goes: collected whole (small) or streamed to its fd. */
interface FileSink {
  entry: Streamed;
  parts: Buffer[] | null;
  fd: number | null;
  inflater: zlib.InflateRaw | null;
  /** Settles when the inflater has emitted everything (or failed). */
  inflated: Promise<void> | null;
  crc: number;
  written: number;
  /** Most bytes this entry may expand to. */
  limit: number;
  /** The Files view's record of a streamed entry. */
  base: FileRecording | undefined;
}

export class StreamExtractor extends Writable {
  readonly #reader = new ZipStreamReader();
  readonly #claims = new NameClaims();
  readonly #writer: WorkspaceWriter;
  readonly #streamed: Streamed[] = [];
  readonly #executables: string[] = [];
  #sink: FileSink | null = null;
  #totalBytes = 0;
  #centralIndex = 0;
  #settled = false;
  #resolve!: (outcome: StreamOutcome) => void;
  /** Settles once: success after the archive's end, or the first reason to give up. */
  readonly outcome: Promise<StreamOutcome>;

  /** `base`: records each file for the Files view (files/base.ts). */
  constructor(
    workspace: string,
    private readonly limits: ZipLimits,
    private readonly base?: BaseRecorder,
  ) {
    super({ highWaterMark: 1024 * 1024 });
    this.#writer = new WorkspaceWriter(workspace);
    this.outcome = new Promise((resolve) => (this.#resolve = resolve));
  }

  override async _write(chunk: Buffer, _enc: BufferEncoding, callback: (error?: Error | null) => void): Promise<void> {
    if (this.#settled) return callback(); // gave up: the rest is only spooled
    try {
      for (const record of this.#reader.push(chunk)) await this.#handle(record);
    } catch (err) {
      this.#giveUp(err);
    }
    callback();
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (!this.#settled) this.#giveUp(new NotStreamable('the archive ended early'));
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (!this.#settled) this.#giveUp(error ?? new Error('upload stopped'));
    callback(null);
  }

  /** Removes everything this extractor created (after it gave up, or when the upload failed). */
  async rollback(): Promise<void> {
    if (!this.#settled) this.#giveUp(new Error('rolled back'));
    await this.#writer.rollback();
  }

  async #handle(record: ZipRecord): Promise<void> {
    switch (record.type) {
      case 'entry':
        return this.#startEntry(record.entry);
      case 'data':
        return this.#data(record.chunk);
      case 'entry_end':
        return this.#endEntry(record);
      case 'central':
        return this.#central(record.record);
      case 'end':
        return this.#finish(record.entries);
      default: {
        const never: never = record;
        throw new Error(`unknown record ${JSON.stringify(never)}`);
      }
    }
  }

  #startEntry(local: LocalEntry): void {
    if (this.#streamed.length >= this.limits.maxEntries) throw new NotStreamable('too many entries');
    if (local.method !== 0 && local.method !== 8) throw new NotStreamable(`compression method ${local.method}`);
    // Non-UTF-8 names are CP437 to the ordinary reader; plain ASCII reads the same either way.
    if (!(local.flags & FLAG_UTF8) && local.name.some((byte) => byte >= 0x80)) throw new NotStreamable('non-UTF-8 name');
    // Only the central directory tells whether a backslash is a separator (zip-plan.ts).
    if (local.name.includes(0x5c)) throw new NotStreamable('a backslash in a name');
    const name = local.name.toString('utf8');
    const rel = checkEntryName(name, this.limits);
    const kind = isMacMetadata(rel) ? 'skip' : name.endsWith('/') ? 'dir' : 'file';
    let abs = '';
    if (kind !== 'skip') this.#claims.claimWithParents(rel, kind);
    if (kind === 'dir') this.#writer.ensureDir(rel);
    else if (kind === 'file') abs = this.#writer.prepareFile(rel);
    const entry: Streamed = { local, rel, kind, abs, crc32: 0, compressedSize: 0, size: 0 };
    this.#streamed.push(entry);
    if (kind !== 'file') return;
    const budget = this.limits.maxTotalBytes - this.#totalBytes;
    if (!local.described) {
      checkCompressionRatio(rel, local.size, local.compressedSize, this.limits);
      if (local.size > budget) throw new NotStreamable('over the size cap');
    }
    const limit = local.described ? budget : local.size;
    const small = !local.described && local.compressedSize <= SMALL_ENTRY_BYTES && local.size <= SMALL_ENTRY_BYTES;
    const sink: FileSink = { entry, parts: small ? [] : null, fd: null, inflater: null, inflated: null, crc: 0, written: 0, limit, base: small ? undefined : this.base?.begin(rel, local.described ? undefined : local.size) };
    if (!small) {
      sink.fd = this.#writer.create(abs, 0o644);
      if (local.method === 8) {
        const inflater = zlib.createInflateRaw();
        sink.inflater = inflater;
        // A failure while writing what it emits is the inflater's failure (never a throw out
        // of its event).
        inflater.on('data', (out: Buffer) => {
          try {
            this.#writeOut(sink, out);
          } catch (err) {
            inflater.destroy(err as Error);
          }
        });
        inflater.on('error', () => undefined);
        sink.inflated = new Promise((resolve, reject) => {
          inflater.once('end', resolve);
          inflater.once('error', reject);
        });
        sink.inflated.catch(() => undefined);
      }
    }
    this.#sink = sink;
  }

  async #data(chunk: Buffer): Promise<void> {
    const sink = this.#sink;
    if (!sink) return; // a directory's (empty) data
    if (sink.parts) sink.parts.push(chunk);
    else if (sink.inflater) {
      if (!sink.inflater.write(chunk)) await Promise.race([new Promise((resolve) => sink.inflater?.once('drain', resolve)), sink.inflated]);
    } else this.#writeOut(sink, chunk);
  }

  async #endEntry(end: { crc32: number; compressedSize: number; size: number }): Promise<void> {
    const sink = this.#sink;
    this.#sink = null;
    const entry = this.#streamed[this.#streamed.length - 1] as Streamed;
    Object.assign(entry, { crc32: end.crc32 >>> 0, compressedSize: end.compressedSize, size: end.size });
    if (entry.kind === 'skip') return;
    if (!sink) {
      if (end.size !== 0) throw new NotStreamable(`directory "${entry.rel}" has data`);
      return;
    }
    if (sink.parts) this.#writeSmall(sink);
    else {
      if (sink.inflater) {
        sink.inflater.end();
        await sink.inflated;
      }
      fs.closeSync(sink.fd as number);
      sink.fd = null;
    }
    if (entry.local.described) checkCompressionRatio(entry.rel, end.size, end.compressedSize, this.limits);
    if (sink.written !== end.size) throw new NotStreamable(`"${entry.rel}" is ${sink.written} bytes, declared ${end.size}`);
    if (sink.crc >>> 0 !== end.crc32 >>> 0) throw new NotStreamable(`"${entry.rel}" fails its CRC`);
    sink.base?.end();
    this.#totalBytes += end.size;
  }

  #writeSmall(sink: FileSink): void {
    const { local, rel, abs } = sink.entry;
    const data = decodeEntry(rel, local.method, Buffer.concat(sink.parts as Buffer[]), local.size, local.crc32);
    sink.crc = local.crc32;
    sink.written = data.length;
    this.#writer.writeFile(abs, data, 0o644);
    this.base?.file(rel, data);
  }

  #writeOut(sink: FileSink, out: Buffer): void {
    sink.written += out.length;
    if (sink.written > sink.limit) throw new NotStreamable(`"${sink.entry.rel}" is larger than declared`);
    // The inflater's bytesWritten: compressed bytes it has consumed so far (not merely been given).
    if (sink.entry.local.described && overRatio(sink.written, sink.inflater?.bytesWritten ?? sink.written, this.limits)) {
      throw new NotStreamable(`"${sink.entry.rel}" expands past the compression-ratio cap`);
    }
    sink.crc = zlib.crc32(out, sink.crc);
    sink.base?.update(out);
    writeAll(sink.fd as number, out);
  }

  /** The central directory must describe exactly what was streamed, entry by entry. */
  #central(record: CentralRecord): void {
    const entry = this.#streamed[this.#centralIndex++];
    if (!entry) throw new NotStreamable('the central directory lists more entries than were streamed');
    const local = entry.local;
    const same =
      record.localOffset === local.offset &&
      record.name.equals(local.name) &&
      (record.flags & FLAG_UTF8) === (local.flags & FLAG_UTF8) &&
      record.method === local.method &&
      record.crc32 >>> 0 === entry.crc32 &&
      record.compressedSize === entry.compressedSize &&
      record.size === entry.size;
    if (!same) throw new NotStreamable(`the central directory disagrees about "${entry.rel}"`);
    for (let at = 0; at + 4 <= record.extra.length; at += 4 + record.extra.readUInt16LE(at + 2)) {
      if (DISQUALIFYING_EXTRA_IDS.has(record.extra.readUInt16LE(at))) throw new NotStreamable('unicode-path or zip64 extra field');
    }
    const { kind, executable } = entryKind(record, local.name.toString('utf8'));
    if (entry.kind !== 'skip' && kind !== entry.kind) throw new NotStreamable(`"${entry.rel}" is a ${kind} in the central directory`);
    if (executable && entry.kind === 'file') this.#executables.push(entry.abs);
  }

  #finish(entries: number): void {
    if (entries !== this.#streamed.length || this.#centralIndex !== entries) throw new NotStreamable('entry counts differ');
    for (const abs of this.#executables) fs.chmodSync(abs, 0o755);
    const paths = this.#streamed.filter((e) => e.kind === 'file').map((e) => e.rel);
    this.#settle({ ok: true, result: { files: paths.length, bytes: this.#totalBytes, paths } });
  }

  #giveUp(err: unknown): void {
    const sink = this.#sink;
    this.#sink = null;
    // With an error, so that anything waiting on the inflater settles.
    if (sink?.inflater) sink.inflater.destroy(new NotStreamable('stopped'));
    if (sink?.fd != null) fs.close(sink.fd, () => undefined);
    this.#settle({ ok: false, reason: (err as Error).message });
  }

  #settle(outcome: StreamOutcome): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#resolve(outcome);
  }
}
