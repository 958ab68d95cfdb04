/**
 * The sandboxed runtime's node: an execute-only copy (mode 0111) of the node binary, so the
 * agent cannot read the runtime's memory or environment (SECURITY.md 37).
 *
 * Why: inside bubblewrap the agent and the runtime are the same uid (the sandbox maps only one),
 * so without more, the agent may open /proc/<runtime>/mem, environ and fd, ptrace it or
 * process_vm_readv it — and read the connect and machine tokens out of its heap. Linux makes a
 * process non-dumpable when it execs a binary its user cannot read (fs/exec.c would_dump), and a
 * non-dumpable process admits none of those to a caller without CAP_SYS_PTRACE over it. Inside
 * the sandbox's user namespace the copy's owner (the API's uid) is the sandbox uid, and with
 * every capability dropped the owner of an 0111 file cannot read it — whether the API runs as
 * root (as root it reads anything outside, not inside) or as a normal user. The agent, forked by
 * the runtime, becomes dumpable again when it execs its own (readable) program; that is fine.
 *
 * Alternatives, and why not: another uid for the agent needs a second uid in the sandbox's user
 * namespace (unprivileged bwrap maps one); PR_SET_DUMPABLE needs native code in the runtime; a
 * PID namespace of the agent's own needs bwrap in the runtime.
 *
 * Once per node binary (keyed by its path, size, mtime and inode), not per session: a copy of
 * ~100 MB, kept in the API's data directory (not visible in any sandbox) and bound read-only into
 * each (the agent can neither chmod nor replace it: a read-only bind its namespace cannot
 * remount). Made under a temporary name and renamed, so a half-written copy is never used; copies
 * for other binaries (an upgraded node) are removed.
 */
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, constants, copyFileSync, mkdirSync, readdirSync, realpathSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';

const DIR_NAME = 'runtime-node';
const PREFIX = 'node-';
const EXEC_ONLY = 0o111;

export type ExecOnlyNode = { path: string } | { path: null; problem: string };

/** The execute-only copy of `nodePath` in `dataDir` (made when missing), or why there is none. */
export function execOnlyNode(dataDir: string, nodePath = process.execPath): ExecOnlyNode {
  const dir = join(dataDir, DIR_NAME);
  try {
    const source = realpathSync(nodePath);
    const st = statSync(source);
    const key = createHash('sha256').update(`${source}\0${st.size}\0${st.mtimeMs}\0${st.ino}`).digest('hex').slice(0, 16);
    const name = `${PREFIX}${key}`;
    const target = join(dir, name);
    if (!isExecOnlyCopy(target, st.size)) {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const tmp = join(dir, `.${name}.${randomBytes(6).toString('hex')}`);
      try {
        copyFileSync(source, tmp, constants.COPYFILE_FICLONE);
        chmodSync(tmp, EXEC_ONLY);
        renameSync(tmp, target);
      } finally {
        rmSync(tmp, { force: true });
      }
      for (const other of readdirSync(dir)) if (other !== name) rmSync(join(dir, other), { force: true });
    }
    // A data directory on a noexec mount cannot run it.
    const run = spawnSync(target, ['--version'], { encoding: 'utf8', timeout: 10_000 });
    if (run.status !== 0) return { path: null, problem: `${target} does not run (${run.error?.message ?? (run.stderr.trim() || `exit ${run.status}`)})` };
    return { path: target };
  } catch (err) {
    return { path: null, problem: `cannot make an execute-only copy of ${nodePath} in ${dir}: ${(err as Error).message}` };
  }
}

function isExecOnlyCopy(path: string, size: number): boolean {
  try {
    const st = statSync(path);
    return st.isFile() && st.size === size && (st.mode & 0o7777) === EXEC_ONLY;
  } catch {
    return false;
  }
}
