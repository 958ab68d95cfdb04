/**
 * Runs the catty CLI for tests: in-process (`runCli`: main(argv) with a temp $CATTY_HOME and
 * captured stdout/stderr) or the built bin under a real PTY (`spawnCliPty`, node-pty).
 */
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { afterAll } from 'vitest';
import { main } from '../../cli/main.js';
import type { ProcessLike } from '../../cli/context.js';

export const REPO_ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
export const CATTY_BIN = path.join(REPO_ROOT, 'dist', 'cli', 'bin.js');

const createdDirs: string[] = [];
// Registered while the importing test file is collected: runs after its last test.
afterAll(() => {
  for (const dir of createdDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

/** A fresh temp dir, removed after the test file's last test. */
export function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `catty-${prefix}-`));
  createdDirs.push(dir);
  return dir;
}

export class Capture extends Writable {
  readonly chunks: Buffer[] = [];
  /** Milliseconds each write takes (a slow terminal). */
  delayMs = 0;
  isTTY = false;
  columns = 80;
  rows = 24;
  override _write(chunk: Buffer, _enc: BufferEncoding, callback: () => void): void {
    this.chunks.push(Buffer.from(chunk));
    if (this.delayMs > 0) setTimeout(callback, this.delayMs);
    else callback();
  }
  get buffer(): Buffer {
    return Buffer.concat(this.chunks);
  }
  get text(): string {
    return this.buffer.toString('utf8');
  }
}

export class FakeProc extends EventEmitter implements ProcessLike {
  pid = process.pid;
  override on(event: string, listener: (...args: unknown[]) => void): this {
    return super.on(event, listener);
  }
  override off(event: string, listener: (...args: unknown[]) => void): this {
    return super.off(event, listener);
  }
}

export interface CliRun {
  code: Promise<number>;
  stdout: Capture;
  stderr: Capture;
  stdin: PassThrough;
  proc: FakeProc;
}

export interface CliOptions {
  home: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  stdin?: PassThrough;
  stdout?: Capture;
}

/** Default env for in-process runs: no colours, no keychain, nothing inherited that matters. */
export function cliEnv(home: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: home, CATTY_HOME: home, CATTY_KEYRING: 'off', NO_COLOR: '1', ...extra };
}

/** Starts main(argv) in-process; await `.code` for the exit code. */
export function startCli(argv: string[], options: CliOptions): CliRun {
  const stdout = options.stdout ?? new Capture();
  const stderr = new Capture();
  const stdin = options.stdin ?? new PassThrough();
  const proc = new FakeProc();
  const code = main(argv, { env: cliEnv(options.home, options.env), cwd: options.cwd ?? options.home, stdout, stderr, stdin, proc, packageRoot: REPO_ROOT });
  return { code, stdout, stderr, stdin, proc };
}

export async function runCli(argv: string[], options: CliOptions): Promise<{ code: number; stdout: string; stderr: string }> {
  const run = startCli(argv, options);
  if (!options.stdin) run.stdin.end();
  const code = await run.code;
  return { code, stdout: run.stdout.text, stderr: run.stderr.text };
}

/** Polls until `check` is truthy (or throws after `timeoutMs`). */
export async function waitUntil<T>(check: () => T | Promise<T>, timeoutMs = 15_000, what = 'condition'): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export interface PtyRun {
  output(): string;
  write(data: string): void;
  exit: Promise<{ exitCode: number; signal?: number }>;
  kill(signal?: string): void;
  pid: number;
}

/** Runs the built `catty` under a real PTY. */
export async function spawnCliPty(args: string[], options: { home: string; cwd?: string; env?: NodeJS.ProcessEnv; cols?: number; rows?: number }): Promise<PtyRun> {
  const pty = await import('node-pty');
  let out = '';
  const term = pty.spawn(process.execPath, [CATTY_BIN, ...args], {
    name: 'xterm-256color',
    cols: options.cols ?? 80,
    rows: options.rows ?? 24,
    cwd: options.cwd ?? options.home,
    env: cliEnv(options.home, { TERM: 'xterm-256color', ...options.env }) as Record<string, string>,
  });
  term.onData((d) => (out += d));
  const exit = new Promise<{ exitCode: number; signal?: number }>((resolve) => term.onExit((e) => resolve(e)));
  return { output: () => out, write: (d) => term.write(d), exit, kill: (s) => term.kill(s), pid: term.pid };
}
