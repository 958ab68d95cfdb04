/**
 * Runs the catty CLI in-process for tests (`runCli`: main(argv) with the given $CATTY_HOME and
 * captured stdout/stderr). The built bin under a real PTY is tests/helpers/pty.ts.
 */
import { EventEmitter } from 'node:events';
import { PassThrough, Writable } from 'node:stream';
import { main } from '../../cli/main.js';
import type { ProcessLike } from '../../cli/context.js';
import { REPO_ROOT } from './paths.js';

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
