/**
 * Reads a zip front to back as it arrives, so extraction can run while the body is still being
 * received (a zip is normally read from its central directory at the end). Synchronous and
 * incremental: `push(chunk)` returns the records completed by that chunk, in archive order.
 *
 * It handles what the CLI's writer (cli/packer/zip-format.ts) produces and what plain writers
 * produce for files: local headers with sizes, or with a signed data descriptor (flag bit 3)
 * after deflated data or after stored data whose size the header still gives. Anything else
 * (zip64, encryption, an unsigned descriptor, a comment, bytes it does not expect) throws
 * NotStreamable: the caller then reads the spooled archive the ordinary way, which gives the
 * authoritative verdict. So this reader never decides that an archive is acceptable on its own:
 * the consumer checks that the central directory describes exactly what was streamed.
 */

export class NotStreamable extends Error {
  override name = 'NotStreamable';
}

const LOCAL_SIG = 0x04034b50;
const CENTRAL_SIG = 0x02014b50;
const END_SIG = 0x06054b50;
const DESCRIPTOR_SIG = 0x08074b50;
const DESCRIPTOR_SIG_BYTES = Buffer.from([0x50, 0x4b, 0x07, 0x08]);
const LOCAL_BYTES = 30;
const CENTRAL_BYTES = 46;
const END_BYTES = 22;
const DESCRIPTOR_BYTES = 16;
const FLAG_ENCRYPTED = 0x0001;
const FLAG_DESCRIPTOR = 0x0008;
const ZIP64_MARK = 0xffffffff;

export interface LocalEntry {
  /** Offset of the local header from the start of the archive. */
  offset: number;
  flags: number;
  method: number;
  name: Buffer;
  /** From the header; for a descriptor entry, known only at `entry_end`. */
  crc32: number;
  compressedSize: number;
  size: number;
  /** Sizes and CRC come in a data descriptor after the data. */
  described: boolean;
}

export interface CentralRecord {
  versionMadeBy: number;
  flags: number;
  method: number;
  crc32: number;
  compressedSize: number;
  size: number;
  name: Buffer;
  extra: Buffer;
  externalFileAttributes: number;
  localOffset: number;
}

export type ZipRecord =
  | { type: 'entry'; entry: LocalEntry }
  /** Compressed bytes of the current entry (a view into the pushed chunk: consume it at once). */
  | { type: 'data'; chunk: Buffer }
  | { type: 'entry_end'; crc32: number; compressedSize: number; size: number }
  | { type: 'central'; record: CentralRecord }
  | { type: 'end'; entries: number; centralOffset: number; centralSize: number };

type State = 'header' | 'data' | 'described_data' | 'central' | 'done';

export class ZipStreamReader {
  #state: State = 'header';
  /** Unconsumed bytes (a short tail of earlier chunks plus the current one). */
  #buffered: Buffer = Buffer.alloc(0);
  /** Archive offset of #buffered[0]. */
  #offset = 0;
  #entry: LocalEntry | null = null;
  /** Bytes of the current entry's data consumed so far. */
  #dataSeen = 0;
  #centralOffset = -1;
  #centralCount = 0;

  get done(): boolean {
    return this.#state === 'done';
  }

  push(chunk: Buffer): ZipRecord[] {
    if (this.#state === 'done') {
      if (chunk.length > 0) throw new NotStreamable('bytes after the end of the archive');
      return [];
    }
    this.#buffered = this.#buffered.length === 0 ? chunk : Buffer.concat([this.#buffered, chunk]);
    const out: ZipRecord[] = [];
    while (this.#step(out));
    return out;
  }

  /** One parsing step; false when more bytes are needed. */
  #step(out: ZipRecord[]): boolean {
    switch (this.#state) {
      case 'header':
        return this.#header(out);
      case 'data':
        return this.#data(out);
      case 'described_data':
        return this.#describedData(out);
      case 'central':
        return this.#central(out);
      case 'done':
        if (this.#buffered.length > 0) throw new NotStreamable('bytes after the end of the archive');
        return false;
      default: {
        const never: never = this.#state;
        throw new Error(`unknown state ${String(never)}`);
      }
    }
  }

  #consume(n: number): Buffer {
    const taken = this.#buffered.subarray(0, n);
    this.#buffered = this.#buffered.subarray(n);
    this.#offset += n;
    return taken;
  }

  #header(out: ZipRecord[]): boolean {
    const b = this.#buffered;
    if (b.length < 4) return false;
    const sig = b.readUInt32LE(0);
    if (sig === CENTRAL_SIG || sig === END_SIG) {
      this.#centralOffset = this.#offset;
      this.#state = 'central';
      return true;
    }
    if (sig !== LOCAL_SIG) throw new NotStreamable(`unexpected signature 0x${sig.toString(16)} at ${this.#offset}`);
    if (b.length < LOCAL_BYTES) return false;
    const nameLength = b.readUInt16LE(26);
    const extraLength = b.readUInt16LE(28);
    if (b.length < LOCAL_BYTES + nameLength + extraLength) return false;
    const flags = b.readUInt16LE(6);
    const method = b.readUInt16LE(8);
    const entry: LocalEntry = {
      offset: this.#offset,
      flags,
      method,
      crc32: b.readUInt32LE(14),
      compressedSize: b.readUInt32LE(18),
      size: b.readUInt32LE(22),
      name: Buffer.from(b.subarray(LOCAL_BYTES, LOCAL_BYTES + nameLength)),
      described: (flags & FLAG_DESCRIPTOR) !== 0,
    };
    if (flags & FLAG_ENCRYPTED) throw new NotStreamable('encrypted entry');
    if (entry.compressedSize === ZIP64_MARK || entry.size === ZIP64_MARK) throw new NotStreamable('zip64 entry');
    // A described entry's end is found by its descriptor: after deflated data, or after stored
    // data of the size the header gives. Stored data of unknown size cannot be delimited.
    if (entry.described && method !== 8 && !(method === 0 && entry.compressedSize > 0)) throw new NotStreamable('stored entry of unknown size');
    this.#consume(LOCAL_BYTES + nameLength + extraLength);
    this.#entry = entry;
    this.#dataSeen = 0;
    this.#state = entry.described && method === 8 ? 'described_data' : 'data';
    out.push({ type: 'entry', entry });
    return true;
  }

  /** Data of a known size (then a descriptor if the entry has one). */
  #data(out: ZipRecord[]): boolean {
    const entry = this.#entry as LocalEntry;
    const left = entry.compressedSize - this.#dataSeen;
    if (left > 0) {
      if (this.#buffered.length === 0) return false;
      const chunk = this.#consume(Math.min(left, this.#buffered.length));
      this.#dataSeen += chunk.length;
      out.push({ type: 'data', chunk });
      return true;
    }
    if (!entry.described) return this.#endEntry(out, entry.crc32, entry.compressedSize, entry.size);
    if (this.#buffered.length < DESCRIPTOR_BYTES) return false;
    const d = this.#buffered;
    if (d.readUInt32LE(0) !== DESCRIPTOR_SIG || d.readUInt32LE(8) !== entry.compressedSize) throw new NotStreamable('missing data descriptor');
    const fields = { crc32: d.readUInt32LE(4), compressedSize: d.readUInt32LE(8), size: d.readUInt32LE(12) };
    this.#consume(DESCRIPTOR_BYTES);
    return this.#endEntry(out, fields.crc32, fields.compressedSize, fields.size);
  }

  /**
   * Deflated data of unknown length: it ends at the first signed descriptor whose compressed
   * size equals the data's length so far. (A look-alike inside the data would have to name its
   * own offset; if one ever did, the CRC, the sizes or the central directory disagree and the
   * archive goes the ordinary way.) The last 15 bytes are held back: they may begin one.
   */
  #describedData(out: ZipRecord[]): boolean {
    const b = this.#buffered;
    let from = 0;
    for (;;) {
      const at = b.indexOf(DESCRIPTOR_SIG_BYTES, from);
      if (at < 0 || at + DESCRIPTOR_BYTES > b.length) {
        const safe = at < 0 ? Math.max(0, b.length - (DESCRIPTOR_BYTES - 1)) : at;
        if (safe === 0) return false;
        const chunk = this.#consume(safe);
        this.#dataSeen += chunk.length;
        out.push({ type: 'data', chunk });
        return false;
      }
      if (b.readUInt32LE(at + 8) === this.#dataSeen + at) {
        if (at > 0) out.push({ type: 'data', chunk: this.#consume(at) });
        this.#dataSeen += at;
        const d = this.#consume(DESCRIPTOR_BYTES);
        return this.#endEntry(out, d.readUInt32LE(4), d.readUInt32LE(8), d.readUInt32LE(12));
      }
      from = at + 1;
    }
  }

  #endEntry(out: ZipRecord[], crc32: number, compressedSize: number, size: number): boolean {
    if (compressedSize !== this.#dataSeen) throw new NotStreamable('entry length differs from its descriptor');
    out.push({ type: 'entry_end', crc32, compressedSize, size });
    this.#entry = null;
    this.#state = 'header';
    return true;
  }

  #central(out: ZipRecord[]): boolean {
    const b = this.#buffered;
    if (b.length < 4) return false;
    const sig = b.readUInt32LE(0);
    if (sig === END_SIG) {
      if (b.length < END_BYTES) return false;
      if (b.readUInt16LE(4) !== 0 || b.readUInt16LE(6) !== 0) throw new NotStreamable('multi-disk archive');
      if (b.readUInt16LE(20) !== 0) throw new NotStreamable('archive comment');
      const entries = b.readUInt16LE(10);
      const centralSize = b.readUInt32LE(12);
      const centralOffset = b.readUInt32LE(16);
      if (entries !== this.#centralCount || b.readUInt16LE(8) !== entries) throw new NotStreamable('entry count differs from the central directory');
      if (centralOffset !== this.#centralOffset || centralSize !== this.#offset - this.#centralOffset) throw new NotStreamable('central directory position differs');
      this.#consume(END_BYTES);
      this.#state = 'done';
      out.push({ type: 'end', entries, centralOffset, centralSize });
      return true;
    }
    if (sig !== CENTRAL_SIG) throw new NotStreamable(`unexpected signature 0x${sig.toString(16)} in the central directory`);
    if (b.length < CENTRAL_BYTES) return false;
    const nameLength = b.readUInt16LE(28);
    const extraLength = b.readUInt16LE(30);
    const commentLength = b.readUInt16LE(32);
    const total = CENTRAL_BYTES + nameLength + extraLength + commentLength;
    if (b.length < total) return false;
    const record: CentralRecord = {
      versionMadeBy: b.readUInt16LE(4),
      flags: b.readUInt16LE(8),
      method: b.readUInt16LE(10),
      crc32: b.readUInt32LE(16),
      compressedSize: b.readUInt32LE(20),
      size: b.readUInt32LE(24),
      name: Buffer.from(b.subarray(CENTRAL_BYTES, CENTRAL_BYTES + nameLength)),
      extra: Buffer.from(b.subarray(CENTRAL_BYTES + nameLength, CENTRAL_BYTES + nameLength + extraLength)),
      externalFileAttributes: b.readUInt32LE(38),
      localOffset: b.readUInt32LE(42),
    };
    if (b.readUInt16LE(34) !== 0) throw new NotStreamable('multi-disk archive');
    this.#consume(total);
    this.#centralCount += 1;
    out.push({ type: 'central', record });
    return true;
  }
}
