/**
 * The agent process behind a small interface, so session logic can be tested with a fake.
 * The real one is node-pty with raw bytes (encoding null): the output log counts bytes, and a
 * UTF-8 decoder would split and re-encode them.
 */
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
  const disposables: { dispose(): void }[] = [];
  return {
    pid: proc.pid,
    onData: (listener) => {
      disposables.push(proc.onData((data) => listener(data as unknown as Buffer)));
    },
    onExit: (listener) => {
      disposables.push(
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
    pause: () => proc.pause(),
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
