/**
 * Reads a zip's whole central directory and decides, before anything is written, whether it is
 * safe to extract (SECURITY.md 1–8). Either every entry passes or the upload is rejected whole.
 *
 * What every ordinary writer produces is accepted, read as Info-ZIP's unzip reads it: a Unix mode
 * without file-type bits (Python's `writestr`) is a file, or a directory when the name ends in
 * `/`; 7-Zip's Unix mode in a FAT-made entry counts; a backslash separates directories in an
 * entry made on Windows (older .NET and PowerShell writers) and is refused in a Unix-made name;
 * macOS's metadata (`__MACOSX/`, `._*` AppleDouble files) is skipped, never written.
 */
import yauzl from 'yauzl';
import { collisionKey, relativePathProblem } from '../wire/safe-path.js';

export interface ZipLimits {
  /** Cap on the sum of declared uncompressed sizes. */
  maxTotalBytes: number;
  maxEntries: number;
  maxDepth: number;
  /** Largest uncompressed/compressed ratio accepted for entries above RATIO_MIN_BYTES. */
  maxCompressionRatio: number;
}

export const DEFAULT_ZIP_LIMITS: Omit<ZipLimits, 'maxTotalBytes'> = {
  maxEntries: 100_000,
  maxDepth: 48,
  // Deflate tops out near 1032:1; real source trees stay far below 100:1.
  maxCompressionRatio: 200,
};
/** Small entries are exempt from the ratio check (a 10 KiB file of spaces is not a bomb). */
export const RATIO_MIN_BYTES = 1024 * 1024;

export class UploadRejected extends Error {
  override name = 'UploadRejected';
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

/**
 * macOS Archive Utility's resource forks and Finder data: `__MACOSX/…` and AppleDouble `._name`
 * files. Skipped (read, never written): on the machine they are noise, and sync-back would
 * bring them home as files.
 */
export function isMacMetadata(rel: string): boolean {
  const segments = rel.split('/');
  return segments[0] === '__MACOSX' || (segments.at(-1) as string).startsWith('._');
}

export interface PlannedEntry {
  entry: yauzl.Entry;
  /** Validated relative POSIX path. */
  rel: string;
  kind: 'file' | 'dir';
  executable: boolean;
}

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;

/** A central directory record's "made by" and attributes: what tells files, dirs and links apart. */
export interface EntryAttributes {
  versionMadeBy: number;
  externalFileAttributes: number;
}

/** Hosts of the "made by" field whose names use `/` and whose attributes are a st_mode. */
const UNIX_HOSTS = new Set([3, 19]);
/** FAT (0), NTFS (10), VFAT (14): DOS attributes, and a st_mode above them when 7-Zip sets this bit. */
const DOS_HOSTS = new Set([0, 10, 14]);
const DOS_UNIX_EXTENSION = 0x8000;

/** Whether the entry was made on a Unix-like host (a backslash in its name is then a character). */
export function madeOnUnix(entry: Pick<EntryAttributes, 'versionMadeBy'>): boolean {
  return UNIX_HOSTS.has(entry.versionMadeBy >> 8);
}

/** The entry's st_mode, when its maker recorded one (0 otherwise). */
function unixMode(entry: EntryAttributes): number {
  const host = entry.versionMadeBy >> 8;
  const attributes = entry.externalFileAttributes >>> 0;
  if (UNIX_HOSTS.has(host) || (DOS_HOSTS.has(host) && (attributes & DOS_UNIX_EXTENSION) !== 0)) return (attributes >>> 16) & 0xffff;
  return 0;
}

/**
 * A file or a directory, and whether it is executable, as Info-ZIP's unzip decides it: the
 * st_mode's file type when there is one; with no file-type bits (Python's `writestr` writes 0o600
 * alone) or no mode at all, a name ending in `/` is a directory and anything else a file. A
 * symlink, device, FIFO or socket type is refused.
 */
export function entryKind(entry: EntryAttributes, name: string): { kind: 'file' | 'dir'; executable: boolean } {
  const mode = unixMode(entry);
  const isDirName = name.endsWith('/');
  const type = mode & S_IFMT;
  if (type === 0) return isDirName ? { kind: 'dir', executable: false } : { kind: 'file', executable: (mode & 0o100) !== 0 };
  if (type === S_IFDIR) return { kind: 'dir', executable: false };
  if (type === S_IFREG && !isDirName) return { kind: 'file', executable: (mode & 0o100) !== 0 };
  throw new UploadRejected('unsafe_entry', `"${name}" is a symlink, device or other special file; only files and directories are accepted`);
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });
const FLAG_UTF8 = 0x0800;
const UNICODE_PATH_EXTRA = 0x7075;

/**
 * The entry's name as unzip reads it on Linux: a Unix-made name without the UTF-8 flag (Info-ZIP
 * zip writes the bytes of the file name as they are) is UTF-8 when it decodes as such, not the
 * CP437 that yauzl assumes for every flagless name.
 */
function unixName(entry: yauzl.Entry): string {
  if (!madeOnUnix(entry) || entry.generalPurposeBitFlag & FLAG_UTF8 || entry.extraFields.some((f) => f.id === UNICODE_PATH_EXTRA)) return entry.fileName;
  try {
    return UTF8.decode(entry.fileNameRaw);
  } catch {
    return entry.fileName;
  }
}

/** The entry's relative path (trailing slashes of a directory removed), or UploadRejected. */
export function checkEntryName(name: string, limits: Pick<ZipLimits, 'maxDepth'>): string {
  const rel = name.replace(/\/+$/, '');
  const problem = relativePathProblem(rel);
  if (problem) throw new UploadRejected('unsafe_path', `Refused entry "${name.slice(0, 200)}": ${problem}`);
  if (rel.split('/').length > limits.maxDepth) throw new UploadRejected('too_deep', `"${rel.slice(0, 200)}" is nested deeper than ${limits.maxDepth} levels`);
  return rel;
}

/** Refuses a file entry whose declared sizes look like a bomb. */
export function checkCompressionRatio(rel: string, size: number, compressedSize: number, limits: Pick<ZipLimits, 'maxCompressionRatio'>): void {
  if (overRatio(size, compressedSize, limits)) throw new UploadRejected('zip_bomb', `"${rel}" has a compression ratio of ${Math.round(size / Math.max(1, compressedSize))}:1`);
}

/** Whether `size` bytes out of `compressedSize` in is past the ratio cap (exempt up to RATIO_MIN_BYTES). */
export function overRatio(size: number, compressedSize: number, limits: Pick<ZipLimits, 'maxCompressionRatio'>): boolean {
  return size > RATIO_MIN_BYTES && size > Math.max(1, compressedSize) * limits.maxCompressionRatio;
}

function checkEntry(entry: yauzl.Entry, limits: ZipLimits): PlannedEntry {
  // yauzl (strictFileNames off) has turned every backslash into a slash; a Unix-made name with
  // one is refused as it was written.
  if (madeOnUnix(entry) && entry.fileNameRaw.includes(0x5c)) {
    throw new UploadRejected('unsafe_path', `Refused entry "${entry.fileNameRaw.toString('utf8').slice(0, 200)}": backslash in path`);
  }
  const name = unixName(entry);
  const { kind, executable } = entryKind(entry, name);
  const rel = checkEntryName(name, limits);
  if (entry.isEncrypted()) throw new UploadRejected('unsupported_entry', `"${rel}" is encrypted`);
  if (kind === 'file') checkCompressionRatio(rel, entry.uncompressedSize, entry.compressedSize, limits);
  return { entry, rel, kind, executable };
}

/**
 * Names claimed so far, keyed so that names equal after Unicode normalisation or case folding
 * collide; a file where a directory is (or the reverse) collides too.
 */
export class NameClaims {
  readonly #seen = new Map<string, { rel: string; kind: 'file' | 'dir' }>();

  claim(rel: string, kind: 'file' | 'dir'): void {
    const key = collisionKey(rel);
    const prior = this.#seen.get(key);
    if (!prior) return void this.#seen.set(key, { rel, kind });
    if (prior.kind === 'dir' && kind === 'dir' && prior.rel === rel) return;
    throw new UploadRejected('path_collision', `"${rel}" collides with "${prior.rel}" (same name after Unicode normalisation or case folding, or a file where a directory is)`);
  }

  /** The entry's parent directories, then the entry. */
  claimWithParents(rel: string, kind: 'file' | 'dir'): void {
    const segments = rel.split('/');
    for (let i = 1; i < segments.length; i++) this.claim(segments.slice(0, i).join('/'), 'dir');
    this.claim(rel, kind);
  }
}

/**
 * Refuses collisions and file/dir clashes among the entries and their parents. (A clash does not
 * depend on the order the names are claimed in.)
 */
function checkCollisions(planned: PlannedEntry[]): void {
  const claims = new NameClaims();
  for (const p of planned) claims.claimWithParents(p.rel, p.kind);
}

export function openZip(file: string): Promise<yauzl.ZipFile> {
  return new Promise((resolve, reject) => {
    // strictFileNames off: backslashes become slashes (checkEntry refuses them in Unix-made names).
    yauzl.open(file, { lazyEntries: true, autoClose: false, decodeStrings: true, validateEntrySizes: true, strictFileNames: false }, (err, zip) => {
      if (err || !zip) reject(new UploadRejected('corrupt_zip', `Not a readable zip archive: ${err?.message ?? 'unknown error'}`));
      else resolve(zip);
    });
  });
}

/** Walks the central directory and returns the extraction plan, or throws UploadRejected. */
export function planZip(zip: yauzl.ZipFile, limits: ZipLimits): Promise<PlannedEntry[]> {
  if (zip.entryCount > limits.maxEntries) {
    return Promise.reject(new UploadRejected('too_many_entries', `The archive has ${zip.entryCount} entries; the limit is ${limits.maxEntries}`));
  }
  return new Promise((resolve, reject) => {
    const planned: PlannedEntry[] = [];
    let totalBytes = 0;
    const fail = (err: unknown): void => {
      zip.removeAllListeners('entry');
      zip.removeAllListeners('end');
      if (err instanceof UploadRejected) return reject(err);
      const message = (err as Error).message;
      // yauzl's own name checks (absolute, "..", backslash) are path refusals, not corruption.
      if (/size mismatch/i.test(message)) return reject(new UploadRejected('size_mismatch', `An entry's size differs from its declared size: ${message}`));
      const code = /file ?name|path/i.test(message) ? 'unsafe_path' : 'corrupt_zip';
      reject(new UploadRejected(code, `${code === 'unsafe_path' ? 'Refused entry' : 'Corrupt zip archive'}: ${message}`));
    };
    zip.on('error', fail);
    zip.on('entry', (entry: yauzl.Entry) => {
      try {
        const p = checkEntry(entry, limits);
        if (!isMacMetadata(p.rel)) {
          totalBytes += p.kind === 'file' ? entry.uncompressedSize : 0;
          if (totalBytes > limits.maxTotalBytes) throw new UploadRejected('too_large', `The archive expands to more than ${limits.maxTotalBytes} bytes`, 413);
          planned.push(p);
        }
        zip.readEntry();
      } catch (err) {
        fail(err);
      }
    });
    zip.on('end', () => {
      try {
        checkCollisions(planned);
        resolve(planned);
      } catch (err) {
        fail(err);
      }
    });
    zip.readEntry();
  });
}
