/**
 * A program under a real PTY (node-pty), as a person's terminal runs it: its raw output, the
 * screen it paints (rendered by a headless xterm, so a match is what a person would read), typing
 * and resizing. `PtyProcess.catty` runs the built `catty`; `PtyProcess.shell` a `/bin/sh -c`
 * script (to run `stty -a` in the same terminal after catty). Killed when the test ends.
 */
import pty from 'node-pty';
import xterm from '@xterm/headless';
import { onCleanup } from './cleanup.js';
import { CATTY_BIN } from './paths.js';
import { waitFor } from './wait.js';

export interface PtyOptions {
  cwd: string;
  env: NodeJS.ProcessEnv;
  cols?: number;
  rows?: number;
}

export class PtyProcess {
  readonly pid: number;
  /** Set once the process has exited. */
  exitCode: number | null = null;
  readonly exited: Promise<{ exitCode: number; signal?: number }>;
  readonly #chunks: Buffer[] = [];
  readonly #term: InstanceType<typeof xterm.Terminal>;
  readonly #proc: pty.IPty;

  /** The built `catty` with `args`. */
  static catty(args: string[], options: PtyOptions): PtyProcess {
    return new PtyProcess(process.execPath, [CATTY_BIN, ...args], options);
  }

  /** `/bin/sh -c script`. */
  static shell(script: string, options: PtyOptions): PtyProcess {
    return new PtyProcess('/bin/sh', ['-c', script], options);
  }

  constructor(file: string, args: string[], options: PtyOptions) {
    const cols = options.cols ?? 100;
    const rows = options.rows ?? 30;
    this.#term = new xterm.Terminal({ cols, rows, allowProposedApi: true, scrollback: 2000 });
    this.#proc = pty.spawn(file, args, { name: 'xterm-256color', cwd: options.cwd, env: { TERM: 'xterm-256color', ...options.env } as Record<string, string>, cols, rows });
    this.pid = this.#proc.pid;
    this.#proc.onData((data) => {
      this.#chunks.push(Buffer.from(data, 'utf8'));
      this.#term.write(data);
    });
    this.exited = new Promise((resolve) =>
      this.#proc.onExit((e) => {
        this.exitCode = e.exitCode;
        resolve(e);
      }),
    );
    onCleanup(() => this.kill());
  }

  /** Everything the program wrote, as it came (escape sequences included). */
  output(): string {
    return Buffer.concat(this.#chunks).toString('utf8');
  }

  /** The rendered screen plus scrollback, one string per line. */
  async screen(): Promise<string> {
    await new Promise<void>((resolve) => this.#term.write('', resolve));
    const buffer = this.#term.buffer.active;
    const lines: string[] = [];
    for (let i = 0; i < buffer.length; i++) lines.push(buffer.getLine(i)?.translateToString(true) ?? '');
    return lines.join('\n');
  }

  write(data: string): void {
    this.#proc.write(data);
  }

  resize(cols: number, rows: number): void {
    this.#proc.resize(cols, rows);
    this.#term.resize(cols, rows);
  }

  /** Resolves with the raw output once it contains `needle`. */
  waitForOutput(needle: string, timeoutMs = 20_000): Promise<string> {
    return waitFor(() => this.output().includes(needle) && this.output(), () => `${JSON.stringify(needle)} in the output; got ${JSON.stringify(this.output().slice(-500))}`, { timeoutMs });
  }

  /** Resolves with the rendered screen once it shows `needle`. */
  async waitForScreen(needle: string | RegExp, timeoutMs = 20_000): Promise<string> {
    const shows = (screen: string) => (typeof needle === 'string' ? screen.includes(needle) : needle.test(screen));
    let last = '';
    return waitFor(async () => {
      last = await this.screen();
      return shows(last) && last;
    }, () => `${String(needle)} on the screen\n--- screen ---\n${last}`, { timeoutMs, everyMs: 50 });
  }

  /** Resolves with the exit code. */
  async waitForExit(timeoutMs = 20_000): Promise<number> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => void this.screen().then((s) => reject(new Error(`timed out after ${timeoutMs} ms waiting for the program to exit\n--- screen ---\n${s}`))), timeoutMs);
    });
    try {
      return (await Promise.race([this.exited, timeout])).exitCode;
    } finally {
      clearTimeout(timer);
    }
  }

  kill(signal = 'SIGKILL'): void {
    if (this.exitCode === null) this.#proc.kill(signal);
  }
}
