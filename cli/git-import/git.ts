/**
 * Runs the laptop's own git for the importer, and only ever against the repository the importer
 * made (an explicit --git-dir, never discovery): the user's global and system config apply, as
 * with any git command they run, but nothing that could run a program is left to chance —
 * hooks point at /dev/null, fsmonitor is off, no transport may be used, no automatic gc — and
 * every GIT_* variable of the environment is dropped (GIT_DIR, GIT_CONFIG_*, GIT_EXTERNAL_DIFF,
 * GIT_ALTERNATE_OBJECT_DIRECTORIES… would each redirect or extend what git does).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';

const SAFETY = [
  '-c', 'core.hooksPath=/dev/null',
  '-c', 'core.fsmonitor=false',
  '-c', 'protocol.allow=never',
  '-c', 'gc.auto=0',
  '-c', 'maintenance.auto=false',
];

/** Output kept per stream at most (what the importer parses is small; errors are cut). */
const MAX_OUTPUT_BYTES = 16 * 1024 * 1024;
const TIMEOUT_MS = 30 * 60_000;

export interface GitResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface GitOptions {
  /** The repository (its .git directory) the command works on. */
  gitDir: string;
  /** The working tree, for the commands that need one. */
  workTree?: string;
  /** Written to stdin: a string, or a file streamed in. */
  input?: string | { file: string };
  env: NodeJS.ProcessEnv;
}

/** The environment git runs with: the caller's, minus every GIT_* variable. */
export function gitEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const clean: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(env)) if (!/^GIT_/i.test(key)) clean[key] = value;
  clean.GIT_TERMINAL_PROMPT = '0';
  return clean;
}

/** `git init` of a new repository at `workTree/.git`, with the user's own templates and config. */
export function gitInit(workTree: string, env: NodeJS.ProcessEnv): Promise<GitResult> {
  return spawnGit([...SAFETY, 'init', '-q', workTree], env, undefined);
}

export function git(args: string[], options: GitOptions): Promise<GitResult> {
  const where = ['--git-dir', options.gitDir, ...(options.workTree ? ['--work-tree', options.workTree] : [])];
  return spawnGit([...SAFETY, ...where, ...args], options.env, options.input, options.workTree);
}

function spawnGit(args: string[], env: NodeJS.ProcessEnv, input: GitOptions['input'], cwd?: string): Promise<GitResult> {
  return new Promise((resolve) => {
    const child = spawn('git', args, { env: gitEnv(env), cwd, stdio: ['pipe', 'pipe', 'pipe'], windowsHide: true });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const collect = (into: Buffer[]) => {
      let kept = 0;
      return (chunk: Buffer) => {
        if (kept >= MAX_OUTPUT_BYTES) return;
        into.push(chunk);
        kept += chunk.length;
      };
    };
    child.stdout.on('data', collect(out));
    child.stderr.on('data', collect(err));
    const timer = setTimeout(() => child.kill('SIGKILL'), TIMEOUT_MS);
    let spawnError: Error | null = null;
    child.on('error', (error) => (spawnError = error));
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const stderr = spawnError
        ? (spawnError as NodeJS.ErrnoException).code === 'ENOENT' ? 'git is not installed' : spawnError.message
        : Buffer.concat(err).toString('utf8') + (signal ? `(git was stopped by ${signal})` : '');
      resolve({ code: code ?? 255, stdout: Buffer.concat(out).toString('utf8'), stderr });
    });
    // A command that exits before reading all of its input (an error) closes the pipe: not ours to report.
    child.stdin.on('error', () => undefined);
    if (input === undefined) child.stdin.end();
    else if (typeof input === 'string') child.stdin.end(input);
    else streamFile(input.file, child.stdin);
  });
}

/** Streams `file` (never through a link: O_NOFOLLOW) into `to`; a failure ends the input early. */
function streamFile(file: string, to: NodeJS.WritableStream & { destroy(): void }): void {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  } catch {
    to.destroy();
    return;
  }
  fs.createReadStream('', { fd }).on('error', () => to.destroy()).pipe(to);
}

/** The first lines of what git said, for a one-line reason. */
export function gitReason(result: GitResult, maxLines = 3): string {
  const lines = `${result.stderr}\n${result.stdout}`.split('\n').map((l) => l.trim()).filter((l) => l.length > 0 && !l.startsWith('notice:'));
  return lines.slice(0, maxLines).join('; ') || `git exited with code ${result.code}`;
}
