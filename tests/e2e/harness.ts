/**
 * Drives the built `catty` binary the way a person does: under a real PTY, typing into it and
 * reading its screen. Every wait polls a condition with a deadline.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pty from 'node-pty';
import xterm from '@xterm/headless';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const CATTY_BIN = path.join(ROOT, 'dist/cli/bin.js');
export const FIXTURES = path.join(ROOT, 'tests/fixtures');

export async function waitUntil<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 20_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `catty-e2e-${prefix}-`));
}

/** A `catty` process under a PTY, with its raw output and a rendered screen. */
export class PtyCatty {
  readonly output: Buffer[] = [];
  readonly term: InstanceType<typeof xterm.Terminal>;
  exitCode: number | null = null;
  readonly #proc: pty.IPty;

  constructor(args: string[], options: { cwd: string; env: NodeJS.ProcessEnv; cols?: number; rows?: number }) {
    const cols = options.cols ?? 100;
    const rows = options.rows ?? 30;
    this.term = new xterm.Terminal({ cols, rows, allowProposedApi: true, scrollback: 2000 });
    this.#proc = pty.spawn(process.execPath, [CATTY_BIN, ...args], { cwd: options.cwd, env: options.env as Record<string, string>, cols, rows, name: 'xterm-256color' });
    this.#proc.onData((data) => {
      this.output.push(Buffer.from(data, 'utf8'));
      this.term.write(data);
    });
    this.#proc.onExit(({ exitCode }) => {
      this.exitCode = exitCode;
    });
  }

  get text(): string {
    return Buffer.concat(this.output).toString('utf8');
  }

  /** The rendered screen plus scrollback, one string per line. */
  screen(): string {
    const buffer = this.term.buffer.active;
    const lines: string[] = [];
    for (let i = 0; i < buffer.length; i++) lines.push(buffer.getLine(i)?.translateToString(true) ?? '');
    return lines.join('\n');
  }

  write(data: string): void {
    this.#proc.write(data);
  }

  resize(cols: number, rows: number): void {
    this.#proc.resize(cols, rows);
    this.term.resize(cols, rows);
  }

  async waitForText(needle: string | RegExp, timeoutMs = 20_000): Promise<string> {
    const found = (hay: string) => (typeof needle === 'string' ? hay.includes(needle) : needle.test(hay));
    return waitUntil(`${String(needle)} on the terminal`, async () => {
      await new Promise<void>((r) => this.term.write('', r));
      const screen = this.screen();
      return found(screen) ? screen : undefined;
    }, timeoutMs).catch((err: Error) => {
      throw new Error(`${err.message}\n--- screen ---\n${this.screen()}`);
    });
  }

  async waitForExit(timeoutMs = 20_000): Promise<number> {
    return waitUntil('catty to exit', () => (this.exitCode === null ? undefined : this.exitCode), timeoutMs).catch((err: Error) => {
      throw new Error(`${err.message}\n--- screen ---\n${this.screen()}`);
    });
  }

  kill(): void {
    if (this.exitCode === null) this.#proc.kill('SIGKILL');
  }
}

/** Runs `catty` without a terminal and returns its exit code and output. */
export function runCatty(args: string[], options: { cwd: string; env: NodeJS.ProcessEnv; input?: string; timeoutMs?: number }): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CATTY_BIN, ...args], { cwd: options.cwd, env: options.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`catty ${args.join(' ')} timed out\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, options.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 255, stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}

/** Every file under `root` whose content contains `needle`. */
export function filesContaining(root: string, needle: string): string[] {
  const hits: string[] = [];
  if (!fs.existsSync(root)) return hits;
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const abs = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(abs);
      else if (entry.isFile() && fs.readFileSync(abs).includes(needle)) hits.push(abs);
    }
  };
  walk(root);
  return hits;
}
