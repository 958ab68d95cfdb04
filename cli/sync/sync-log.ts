/**
 * The per-session sync log, `$CATTY_HOME/logs/<label>.log`, bounded (SECURITY.md 48): what the
 * session machine sends decides how many lines there are, so the file rotates — past
 * MAX_LOG_BYTES it becomes `<label>.log.1` (replacing the older one) and a new file starts —
 * and the lines wait in a small buffer written synchronously when full (a stream's own buffer
 * grows without limit when lines come faster than the disk takes them). At most about twice
 * MAX_LOG_BYTES on disk per session, and FLUSH_BYTES in memory.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ensurePrivateDir } from '../fs-util.js';

export const MAX_LOG_BYTES = 4 * 1024 * 1024;
const FLUSH_BYTES = 64 * 1024;
const FLUSH_AFTER_MS = 500;

export class SyncLog {
  readonly file: string;
  readonly #maxBytes: number;
  #fd: number | null = null;
  #size = 0;
  #pending: string[] = [];
  #pendingBytes = 0;
  #timer: NodeJS.Timeout | null = null;
  #failed = false;

  constructor(file: string, maxBytes = MAX_LOG_BYTES) {
    this.file = file;
    this.#maxBytes = maxBytes;
    ensurePrivateDir(path.dirname(file));
    // Opened now: the file exists from the start of the attach, as the summary's "details" says.
    try {
      this.#open();
    } catch {
      this.#failed = true;
    }
  }

  write(line: string): void {
    if (this.#failed) return;
    this.#pending.push(line);
    this.#pendingBytes += Buffer.byteLength(line);
    if (this.#pendingBytes >= FLUSH_BYTES) this.flush();
    else if (!this.#timer) {
      this.#timer = setTimeout(() => this.flush(), FLUSH_AFTER_MS);
      this.#timer.unref();
    }
  }

  /** Writes what is buffered, rotating first when it would pass the cap. A log that cannot be
   * written is given up on quietly: sync-back goes on without it. */
  flush(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    if (this.#pending.length === 0 || this.#failed) return;
    const data = Buffer.from(this.#pending.join(''));
    this.#pending = [];
    this.#pendingBytes = 0;
    try {
      if (this.#fd === null) this.#open();
      if (this.#size > 0 && this.#size + data.length > this.#maxBytes) this.#rotate();
      fs.writeSync(this.#fd as number, data);
      this.#size += data.length;
    } catch {
      this.#failed = true;
      this.#closeFd();
    }
  }

  close(): void {
    this.flush();
    this.#closeFd();
  }

  #open(): void {
    this.#fd = fs.openSync(this.file, fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW, 0o600);
    this.#size = fs.fstatSync(this.#fd).size;
  }

  #rotate(): void {
    this.#closeFd();
    fs.renameSync(this.file, `${this.file}.1`);
    this.#open();
  }

  #closeFd(): void {
    if (this.#fd === null) return;
    try {
      fs.closeSync(this.#fd);
    } catch {
      // already gone
    }
    this.#fd = null;
  }
}
