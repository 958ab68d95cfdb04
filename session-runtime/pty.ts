/**
 * The agent's pseudo-terminal: node-pty's native `fork` (openpty + spawn) with our own I/O on
 * the master side, instead of node-pty's JavaScript wrapper.
 *
 * Why not the wrapper: it reads through a Readable stream, which allocates a fresh 64 KiB buffer
 * for every read. A PTY hands out ~4 KiB per read, so `cat bigfile` is 25,000 buffers per 100 MB,
 * each page-faulted in and collected again. Here the master is read into one reused buffer
 * (net.Socket's `onread`): measured on a 100 MB `cat`, 0.40 against 0.52 CPU-s per 100 MB and
 * user time 0.03 against 0.08–0.16 s (tests/bench/p1-cpu.mjs has the end-to-end figures). The
 * price is that `onData`'s buffer is only valid during the call: listeners copy what they keep.
 *
 * Writes (keystrokes) go through the same libuv handle: a direct write from the event loop, with
 * libuv queueing on EAGAIN, where node-pty's wrapper sends each one through the threadpool.
 *
 * Exit: the agent's last output must not be lost. Linux discards what is still in the PTY when
 * the slave's last descriptor closes, i.e. when the agent exits; so we hold a descriptor of the
 * slave ourselves (O_NOCTTY, close-on-exec) until the master has been read dry: after the exit,
 * reading resumes (even if paused), and once EXIT_DRAIN_SILENCE_MS pass without output we release
 * the slave, the read side ends with EIO, and only then is `exit` reported — so every byte has
 * gone through `onData` first. Capped at EXIT_DRAIN_MAX_MS (a grandchild that holds the PTY open
 * and prints forever).
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import tty from 'node:tty';

/** After the agent exited, the PTY is read until this long passes without output. */
const EXIT_DRAIN_SILENCE_MS = 250;
/** Hard cap on that wait. */
const EXIT_DRAIN_MAX_MS = 10_000;
/** After our hold on the slave is released, how long the read side may take to report EOF. */
const EOF_WAIT_MS = 200;
/** The read buffer: far above what one PTY read returns (~4 KiB). */
const READ_BUFFER_BYTES = 64 * 1024;

/** node-pty's native addon (src/unix/pty.cc), the two calls we use. */
interface NativePty {
  fork(
    file: string,
    args: string[],
    env: string[],
    cwd: string,
    cols: number,
    rows: number,
    uid: number,
    gid: number,
    utf8: boolean,
    helperPath: string,
    onExit: (code: number, signal: number) => void,
  ): { fd: number; pid: number; pty: string };
  resize(fd: number, cols: number, rows: number): void;
}

let native: { pty: NativePty; helperPath: string } | null = null;
/** Loaded through node-pty's own loader, so its build and prebuild lookup stays the library's. */
function nativePty(): { pty: NativePty; helperPath: string } {
  if (native) return native;
  const require = createRequire(import.meta.url);
  const utilsPath = require.resolve('node-pty/lib/utils.js');
  const { loadNativeModule } = require(utilsPath) as { loadNativeModule(name: string): { dir: string; module: NativePty } };
  const loaded = loadNativeModule('pty');
  native = { pty: loaded.module, helperPath: path.resolve(path.dirname(utilsPath), loaded.dir, 'spawn-helper') };
  return native;
}

export interface PtyExit {
  /** Exit code (0 when killed by a signal). */
  code: number;
  /** Signal number, 0 for a normal exit. */
  signal: number;
}

export interface PtyOptions {
  cwd: string;
  env: Record<string, string>;
  cols: number;
  rows: number;
  /** TERM for the agent. */
  name: string;
}

/** The OnReadOpts net.Socket takes; @types/node lists it for connect() only. */
type ReadStreamWithOnread = new (fd: number, options: { onread: { buffer: Buffer; callback: (bytes: number, buffer: Buffer) => void } }) => tty.ReadStream;

export class Pty {
  readonly pid: number;
  readonly #fd: number;
  readonly #socket: tty.ReadStream;
  #onData: (data: Buffer) => void = () => undefined;
  #onExit: (exit: PtyExit) => void = () => undefined;
  /** A descriptor of the slave side, held until the master has been read dry after the exit. */
  #slaveFd: number | null = null;
  #exit: PtyExit | null = null;
  #closed = false;
  #lastReadAtMs = 0;

  constructor(file: string, args: string[], options: PtyOptions) {
    const { pty, helperPath } = nativePty();
    const env = { ...options.env, TERM: options.name, PWD: options.cwd };
    const envList = Object.entries(env).map(([key, value]) => `${key}=${value}`);
    // utf8 = IUTF8 in the line discipline: erasing in canonical mode removes whole characters.
    const term = pty.fork(file, args, envList, options.cwd, options.cols, options.rows, -1, -1, true, helperPath, (code, signal) => this.#exited({ code, signal }));
    this.pid = term.pid;
    this.#fd = term.fd;
    try {
      this.#slaveFd = fs.openSync(term.pty, fs.constants.O_RDWR | fs.constants.O_NOCTTY);
    } catch {
      // The agent already exited (and the PTY is gone) or we may not open it: no hold.
    }
    const buffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
    this.#socket = new (tty.ReadStream as unknown as ReadStreamWithOnread)(term.fd, {
      onread: {
        buffer,
        callback: (bytes) => {
          // Only the exit drain looks at it: no clock read per read before that.
          if (this.#exit) this.#lastReadAtMs = Date.now();
          this.#onData(buffer.subarray(0, bytes));
        },
      },
    });
    // EIO is how a PTY's read side ends once no slave descriptor is left; any other read or write
    // error ends it the same way (the agent's exit still comes from waitpid).
    this.#socket.on('error', () => undefined);
    this.#socket.on('close', () => {
      this.#closed = true;
      this.#releaseSlave();
    });
    this.#socket.resume();
  }

  /** `data` is valid only during the call (the read buffer is reused): copy what you keep. */
  onData(listener: (data: Buffer) => void): void {
    this.#onData = listener;
  }

  /** Called once, after the output has been read to its end. */
  onExit(listener: (exit: PtyExit) => void): void {
    this.#onExit = listener;
  }

  write(data: Buffer | string): void {
    if (this.#closed || this.#socket.destroyed) return;
    this.#socket.write(data);
  }

  resize(cols: number, rows: number): void {
    if (this.#closed) return;
    try {
      nativePty().pty.resize(this.#fd, cols, rows);
    } catch {
      // The PTY is already closed (agent exited); nothing to resize.
    }
  }

  /** Stops reading: the kernel's PTY buffer fills and then blocks the agent's writes. */
  pause(): void {
    // Once the agent is gone, pausing would only strand its last bytes in the kernel.
    if (!this.#exit) this.#socket.pause();
  }

  resume(): void {
    this.#socket.resume();
  }

  kill(signal: NodeJS.Signals): void {
    try {
      process.kill(this.pid, signal);
    } catch {
      // Already gone.
    }
  }

  #exited(exit: PtyExit): void {
    if (this.#exit) return;
    this.#exit = exit;
    this.#lastReadAtMs = Date.now();
    this.#socket.resume();
    let timer: NodeJS.Timeout | null = null;
    let finished = false;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      if (timer) clearTimeout(timer);
      clearTimeout(cap);
      this.#releaseSlave();
      this.#socket.destroy();
      this.#onExit(exit);
    };
    const cap = setTimeout(finish, EXIT_DRAIN_MAX_MS);
    const check = (): void => {
      if (this.#closed) return finish();
      const quietMs = Date.now() - this.#lastReadAtMs;
      if (quietMs < EXIT_DRAIN_SILENCE_MS) return void (timer = setTimeout(check, EXIT_DRAIN_SILENCE_MS - quietMs));
      // Let the poll phase deliver anything already readable before deciding it is quiet.
      setImmediate(() => {
        if (this.#closed) return finish();
        if (Date.now() - this.#lastReadAtMs < EXIT_DRAIN_SILENCE_MS) return void (timer = setTimeout(check, EXIT_DRAIN_SILENCE_MS));
        this.#releaseSlave();
        // Normally EIO follows at once; a grandchild still holding the PTY keeps it open.
        this.#socket.once('close', finish);
        timer = setTimeout(finish, EOF_WAIT_MS);
      });
    };
    if (this.#closed) setImmediate(finish);
    else timer = setTimeout(check, EXIT_DRAIN_SILENCE_MS);
  }

  #releaseSlave(): void {
    if (this.#slaveFd === null) return;
    const fd = this.#slaveFd;
    this.#slaveFd = null;
    try {
      fs.closeSync(fd);
    } catch {
      // Already closed.
    }
  }
}
