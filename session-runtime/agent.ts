/**
 * The agent process behind a small interface, so session logic can be tested with a fake.
 * The real one is a PTY (pty.ts) read as raw bytes: the output log counts bytes, and a UTF-8
 * decoder would split and re-encode them.
 */
import os from 'node:os';
import { niceNewSessionGroup } from './priority.js';
import { Pty } from './pty.js';

export interface AgentExit {
  /** Exit code; null when killed by a signal. */
  code: number | null;
  /** Signal number, or null. */
  signal: number | null;
}

export interface AgentProcess {
  readonly pid: number;
  /** One listener. `data` is valid only during the call (the PTY reuses its read buffer). */
  onData(listener: (data: Buffer) => void): void;
  /** One listener, called once, after every byte of output went through `onData`. */
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
  const pty = new Pty(file!, args, { name: 'xterm-256color', cols: options.cols, rows: options.rows, cwd: options.cwd, env: options.env });
  // The agent inherited the runtime's niceness, but the PTY made it the leader of a session,
  // which Linux may schedule as a group of its own (priority.ts): that group gets it too, once
  // the child has made it.
  const nice = os.getPriority();
  if (nice > 0) niceNewSessionGroup(pty.pid, nice, (message) => process.stderr.write(`catty-session: ${message}\n`));
  return {
    pid: pty.pid,
    onData: (listener) => pty.onData(listener),
    // Reported once the PTY has been read to its end: every byte the agent wrote came first.
    onExit: (listener) => pty.onExit(({ code, signal }) => listener(signal ? { code: null, signal } : { code, signal: null })),
    write: (data) => pty.write(data),
    resize: (cols, rows) => pty.resize(cols, rows),
    pause: () => pty.pause(),
    resume: () => pty.resume(),
    kill: (signal) => pty.kill(signal),
  };
};
