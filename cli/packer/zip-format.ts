/**
 * Zip records (PKWARE APPNOTE 4.3): local file header, data descriptor, central directory
 * header and end of central directory, for a writer that streams. Names are UTF-8 (flag bit
 * 11); modes travel as Unix attributes (made-by host 3). No zip64: the writer refuses what
 * would need it (the upload cap keeps archives far below 4 GiB / 65,535 entries... or the
 * caller raises a clear error).
 */

export const METHOD_STORE = 0;
export const METHOD_DEFLATE = 8;
const FLAG_DATA_DESCRIPTOR = 0x0008;
const FLAG_UTF8 = 0x0800;
const VERSION_NEEDED = 20;
const VERSION_MADE_BY = (3 << 8) | 20; // Unix, spec 2.0
const S_IFREG = 0o100000;
export const ZIP32_LIMIT = 0xffffffff;
export const MAX_ENTRIES = 0xffff;

export interface EntryRecord {
  name: Buffer;
  method: number;
  crc32: number;
  compressedSize: number;
  size: number;
  offset: number;
  mode: number;
  streamed: boolean;
  /**
   * A streamed stored entry's size, known from stat before it is read: written in the local
   * header (the CRC still follows in the descriptor) so that a reader of the stream can find
   * the data's end — stored bytes carry no end marker of their own.
   */
  storedSize?: number;
}

export function dosDateTime(date: Date): { time: number; date: number } {
  const year = Math.max(1980, date.getFullYear());
  return {
    time: (date.getHours() << 11) | (date.getMinutes() << 5) | Math.floor(date.getSeconds() / 2),
    date: ((year - 1980) << 9) | ((date.getMonth() + 1) << 5) | date.getDate(),
  };
}

export function localHeader(e: EntryRecord, when: { time: number; date: number }): Buffer {
  const h = Buffer.alloc(30);
  h.writeUInt32LE(0x04034b50, 0);
  h.writeUInt16LE(VERSION_NEEDED, 4);
  h.writeUInt16LE(FLAG_UTF8 | (e.streamed ? FLAG_DATA_DESCRIPTOR : 0), 6);
  h.writeUInt16LE(e.method, 8);
  h.writeUInt16LE(when.time, 10);
  h.writeUInt16LE(when.date, 12);
  // Streamed entries carry crc and sizes in the data descriptor instead (a stored one repeats
  // its sizes here).
  const size = e.streamed ? (e.storedSize ?? 0) : e.size;
  h.writeUInt32LE(e.streamed ? 0 : e.crc32, 14);
  h.writeUInt32LE(e.streamed ? size : e.compressedSize, 18);
  h.writeUInt32LE(size, 22);
  h.writeUInt16LE(e.name.length, 26);
  h.writeUInt16LE(0, 28);
  return Buffer.concat([h, e.name]);
}

export function dataDescriptor(e: EntryRecord): Buffer {
  const d = Buffer.alloc(16);
  d.writeUInt32LE(0x08074b50, 0);
  d.writeUInt32LE(e.crc32, 4);
  d.writeUInt32LE(e.compressedSize, 8);
  d.writeUInt32LE(e.size, 12);
  return d;
}

export function centralHeader(e: EntryRecord, when: { time: number; date: number }): Buffer {
  const h = Buffer.alloc(46);
  h.writeUInt32LE(0x02014b50, 0);
  h.writeUInt16LE(VERSION_MADE_BY, 4);
  h.writeUInt16LE(VERSION_NEEDED, 6);
  h.writeUInt16LE(FLAG_UTF8 | (e.streamed ? FLAG_DATA_DESCRIPTOR : 0), 8);
  h.writeUInt16LE(e.method, 10);
  h.writeUInt16LE(when.time, 12);
  h.writeUInt16LE(when.date, 14);
  h.writeUInt32LE(e.crc32, 16);
  h.writeUInt32LE(e.compressedSize, 20);
  h.writeUInt32LE(e.size, 24);
  h.writeUInt16LE(e.name.length, 28);
  h.writeUInt16LE(0, 30); // extra
  h.writeUInt16LE(0, 32); // comment
  h.writeUInt16LE(0, 34); // disk
  h.writeUInt16LE(0, 36); // internal attributes
  h.writeUInt32LE(((S_IFREG | e.mode) << 16) >>> 0, 38);
  h.writeUInt32LE(e.offset, 42);
  return Buffer.concat([h, e.name]);
}

export function endOfCentralDirectory(entries: number, cdSize: number, cdOffset: number): Buffer {
  const h = Buffer.alloc(22);
  h.writeUInt32LE(0x06054b50, 0);
  h.writeUInt16LE(entries, 8);
  h.writeUInt16LE(entries, 10);
  h.writeUInt32LE(cdSize, 12);
  h.writeUInt32LE(cdOffset, 16);
  return h;
}
