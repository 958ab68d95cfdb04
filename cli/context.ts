/**
 * What every command handler gets instead of globals (wrangler's pattern), so `main(argv)` runs
 * in-process under vitest with a temporary $CATTY_HOME and captured output.
 */
import os from 'node:os';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { createColors } from './output.js';
import { nodeHttp, type Http } from './http.js';

export interface InputStream extends Readable {
  isTTY?: boolean;
  setRawMode?(mode: boolean): unknown;
  isRaw?: boolean;
}

export interface OutputStream extends Writable {
  isTTY?: boolean;
  columns?: number;
  rows?: number;
}

/** The process-level hooks attach needs (signals, resize); a test passes an EventEmitter. */
export interface ProcessLike {
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  off(event: string, listener: (...args: unknown[]) => void): unknown;
  pid: number;
}

export interface GlobalOptions {
  api?: string;
  insecure: boolean;
  debug: boolean;
}

export interface Context {
  env: NodeJS.ProcessEnv;
  cwd: string;
  stdin: InputStream;
  stdout: OutputStream;
  stderr: OutputStream;
  http: Http;
  proc: ProcessLike;
  /** $CATTY_HOME (not yet created). */
  home: string;
  global: GlobalOptions;
  colors: ReturnType<typeof createColors>;
  /** Root of the installed package (where dist/ lives), for spawning catty-api. */
  packageRoot: string;
}

/** A command's action: returns its exit code (nothing = 0) or throws; main() maps the error. */
export type Handler<A extends unknown[]> = (ctx: Context, ...args: A) => Promise<number | void>;
/** Wraps a handler as a commander action: builds the context, records the exit code. */
export type Runner = <A extends unknown[]>(handler: Handler<A>) => (...args: unknown[]) => Promise<void>;

export interface ContextInput {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  stdin?: InputStream;
  stdout?: OutputStream;
  stderr?: OutputStream;
  http?: Http;
  proc?: ProcessLike;
  packageRoot?: string;
}

export function cattyHome(env: NodeJS.ProcessEnv): string {
  const fromEnv = env.CATTY_HOME;
  return fromEnv && fromEnv.length > 0 ? path.resolve(fromEnv) : path.join(os.homedir(), '.catty');
}

export function createContext(input: ContextInput, global: GlobalOptions, defaultPackageRoot: string): Context {
  const env = input.env ?? process.env;
  const stderr = input.stderr ?? process.stderr;
  return {
    env,
    cwd: input.cwd ?? process.cwd(),
    stdin: input.stdin ?? process.stdin,
    stdout: input.stdout ?? process.stdout,
    stderr,
    http: input.http ?? nodeHttp,
    proc: input.proc ?? (process as unknown as ProcessLike),
    home: cattyHome(env),
    global,
    colors: createColors(env, stderr),
    packageRoot: input.packageRoot ?? defaultPackageRoot,
  };
}

export function print(stream: Writable, line: string): void {
  stream.write(line.endsWith('\n') ? line : `${line}\n`);
}
