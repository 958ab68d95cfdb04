/**
 * The agent process behind a small interface, so session logic can be tested with a fake.
 * The real one is node-pty with raw bytes (encoding null): the output log counts bytes, and a
 * UTF-8 decoder would split and re-encode them.
 */
import fs from 'node:fs';
import pty from 'node-pty';

export interface AgentExit {
  /** Exit code; null when killed by a signal. */
  code: number | null;
  /** Signal number, or null. */
  signal: number | null;
}

export interface AgentProcess {
  readonly pid: number;
  onData(listener: (data: Buffer) => void): void;
  onExit(listener: (exit: AgentExit) => void): void;
  write(data: Buffer | string): void;
  resize(cols: number, rows: number): void;
  /** Stop reading output (the kernel buffer then blocks the agent's writes). */
  pause(): void;
  resume(): void;
  kill(signal: NodeJS.Signals): void;
}

export interface SpawnOptions {
  argv: string[];
  cwd: string;
  env: Record<string, string>;
  cols: number;
  rows: number;
}

export type SpawnAgent = (options: SpawnOptions) => AgentProcess;

/** After the agent exited, the PTY is read until this long passes without output. */
export const EXIT_DRAIN_SILENCE_MS = 250;
/** Hard cap on that wait (a grandchild holding the PTY open while printing forever). */
export const EXIT_DRAIN_MAX_MS = 10_000;
/** After our hold on the PTY is released, how long the read side may take to report EOF. */
const EOF_WAIT_MS = 200;

interface PtySocket {
  destroy(): void;
  resume(): void;
  on(event: 'data' | 'close', listener: () => void): void;
  destroyed: boolean;
}
export const spawnPtyAgent: SpawnAgent = (options) => {
  const [file, ...args] = options.argv;
  const proc = pty.spawn(file!, args, {
    name: 'xterm-256color',
    cols: options.cols,
    rows: options.rows,
    cwd: options.cwd,
    env: options.env,
    encoding: null,
  });
  const drain = keepReadingAfterExit(proc);
  const disposables: { dispose(): void }[] = [];
  return {
    pid: proc.pid,
    onData: (listener) => {
      disposables.push(proc.onData((data) => listener(data as unknown as Buffer)));
    },
    onExit: (listener) => {
      disposables.push(
        // node-pty reports the exit only after its read socket closed (EOF/EIO, or our drain
        // below), so every byte the agent wrote has been delivered through onData by now.
        proc.onExit(({ exitCode, signal }) => {
          // node-pty reports signal 0 for a normal exit.
          listener(signal ? { code: null, signal } : { code: exitCode, signal: null });
          for (const d of disposables.splice(0)) d.dispose();
        }),
      );
    },
    write: (data) => proc.write(data as string),
    resize: (cols, rows) => {
      try {
        proc.resize(cols, rows);
      } catch {
        // The PTY is already closed (agent exited); nothing to resize.
      }
    },
    pause: () => {
      // Once the agent is gone, pausing would only strand its last bytes in the kernel.
      if (!drain.exiting) proc.pause();
    },
    resume: () => proc.resume(),
    kill: (signal) => {
      try {
        proc.kill(signal);
      } catch {
        // Already gone.
      }
    },
  };
};

/**
 * Two ways the agent's last output used to be lost at its exit, both when reading was paused
 * (the relay's backpressure for a slow client) or late (a busy event loop):
 * - node-pty (1.1) waits only 200 ms for its read socket to close before emitting `exit`, then
 *   destroys the socket with whatever was still unread.
 * - Linux discards the PTY's pending input (up to ~64 KiB the agent already wrote) when the
 *   last descriptor of the slave side closes, i.e. when the agent exits.
 * So we hold a descriptor of the slave ourselves (O_NOCTTY: not our controlling terminal;
 * close-on-exec, so the agent does not inherit it) and intercept node-pty's forced destroy:
 * resume reading, wait until EXIT_DRAIN_SILENCE_MS pass without output (checked after a
 * setImmediate, so I/O already pending is read first), release our slave descriptor (the read
 * side then ends with EIO) and give node-pty its `close` → `exit`. Capped at EXIT_DRAIN_MAX_MS.
 * If node-pty's internals ever change shape, this degrades to the library's own behaviour.
 */
function keepReadingAfterExit(proc: pty.IPty): { exiting: boolean } {
  const state = { exiting: false };
  const internals = proc as unknown as { _socket?: PtySocket; _pty?: string };
  const socket = internals._socket;
  if (!socket || typeof socket.destroy !== 'function') return state;
  let slaveFd: number | null = null;
  try {
    if (internals._pty) slaveFd = fs.openSync(internals._pty, fs.constants.O_RDWR | fs.constants.O_NOCTTY);
  } catch {
    // The agent already exited (and the PTY is gone) or we may not open it: no hold.
  }
  const release = (): void => {
    if (slaveFd === null) return;
    const fd = slaveFd;
    slaveFd = null;
    try {
      fs.closeSync(fd);
    } catch {
      // Already closed.
    }
  };
  const destroy = socket.destroy.bind(socket);
  let closed = false;
  let lastDataAtMs = 0;
  socket.on('close', () => {
    closed = true;
    release();
  });
  socket.destroy = () => {
    if (closed || socket.destroyed || state.exiting) {
      release();
      return destroy();
    }
    state.exiting = true;
    let timer: NodeJS.Timeout | null = null;
    const finish = (): void => {
      if (timer) clearTimeout(timer);
      clearTimeout(cap);
      release();
      if (!closed && !socket.destroyed) destroy();
    };
    const cap = setTimeout(finish, EXIT_DRAIN_MAX_MS);
    const check = (): void => {
      const quietMs = Date.now() - lastDataAtMs;
      if (quietMs < EXIT_DRAIN_SILENCE_MS) return void (timer = setTimeout(check, EXIT_DRAIN_SILENCE_MS - quietMs));
      // Let the poll phase deliver anything already readable before deciding it is quiet.
      setImmediate(() => {
        if (closed) return;
        if (Date.now() - lastDataAtMs < EXIT_DRAIN_SILENCE_MS) return void (timer = setTimeout(check, EXIT_DRAIN_SILENCE_MS));
        release();
        // Normally EIO follows at once; a grandchild still holding the PTY would keep it open.
        timer = setTimeout(finish, EOF_WAIT_MS);
      });
    };
    socket.on('data', () => (lastDataAtMs = Date.now()));
    lastDataAtMs = Date.now();
    timer = setTimeout(check, EXIT_DRAIN_SILENCE_MS);
    socket.resume();
  };
  return state;
}
