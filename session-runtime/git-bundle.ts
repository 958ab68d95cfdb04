/**
 * The agent's branches as one git bundle, for the CLI to bring home as
 * `refs/remotes/catty/<label>/<branch>` (issue 23; protocol.ts "Git"). Git's own transport:
 * `git bundle create --branches` — every branch and its whole history, no prerequisites, so the
 * laptop can verify it alone in a quarantine repository.
 *
 * The repository is the agent's, so git runs with what the runtime can take out of its hands:
 * hooks and fsmonitor off, no transport, no automatic gc, no system or global config, and an
 * environment of its own (PATH and a scratch HOME — never the runtime's, which holds tokens).
 * The bundle goes to a private temp file outside the workspace; the size cap is checked on it
 * before a byte is sent.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const SAFETY = [
  '-c', 'core.hooksPath=/dev/null',
  '-c', 'core.fsmonitor=false',
  '-c', 'protocol.allow=never',
  '-c', 'gc.auto=0',
  '-c', 'maintenance.auto=false',
];
const GIT_TIMEOUT_MS = 5 * 60_000;

export type BranchBundle =
  | { kind: 'ok'; file: string; size: number; dispose(): void }
  | { kind: 'no_git' | 'no_branches'; message: string }
  | { kind: 'too_large'; size: number; message: string }
  | { kind: 'failed'; message: string };

/** Bundles every branch of `workspace/.git` into a temp file under `tempRoot`. */
export async function bundleBranches(workspace: string, tempRoot: string, maxBytes: number, pathEnv: string | undefined): Promise<BranchBundle> {
  const gitDir = path.join(workspace, '.git');
  if (!fs.existsSync(gitDir)) return { kind: 'no_git', message: 'the session has no git repository (not a git project, or uploaded with --no-git)' };
  const scratch = fs.mkdtempSync(path.join(tempRoot, 'catty-git-bundle-'));
  const dispose = () => fs.rmSync(scratch, { recursive: true, force: true });
  const env: NodeJS.ProcessEnv = { PATH: pathEnv ?? '/usr/bin:/bin', HOME: scratch, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', GIT_TERMINAL_PROMPT: '0' };
  const run = (args: string[]) => runGit([...SAFETY, '--git-dir', gitDir, ...args], env, scratch);
  try {
    const heads = await run(['for-each-ref', '--count=1', '--format=%(refname)', 'refs/heads/']);
    if (heads.code !== 0) return failed(dispose, `git cannot read the session's repository: ${heads.stderr.trim().split('\n')[0] ?? ''}`);
    if (heads.stdout.trim() === '') {
      dispose();
      return { kind: 'no_branches', message: 'the agent has no commits yet' };
    }
    const file = path.join(scratch, 'branches.bundle');
    const made = await run(['bundle', 'create', '-q', file, '--branches']);
    if (made.code !== 0) return failed(dispose, `git bundle failed: ${made.stderr.trim().split('\n')[0] ?? ''}`);
    const size = fs.statSync(file).size;
    if (size > maxBytes) {
      dispose();
      return { kind: 'too_large', size, message: `the agent's branches make a ${size}-byte bundle, over the ${maxBytes}-byte cap` };
    }
    return { kind: 'ok', file, size, dispose };
  } catch (error) {
    return failed(dispose, (error as Error).message);
  }
}

function failed(dispose: () => void, message: string): BranchBundle {
  dispose();
  return { kind: 'failed', message };
}

function runGit(args: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('git', args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout = (stdout + c.toString('utf8')).slice(0, 64 * 1024)));
    child.stderr.on('data', (c: Buffer) => (stderr = (stderr + c.toString('utf8')).slice(0, 64 * 1024)));
    const timer = setTimeout(() => child.kill('SIGKILL'), GIT_TIMEOUT_MS);
    child.on('error', (error) => (stderr = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'git is not installed in the session' : error.message));
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 255, stdout, stderr });
    });
  });
}
