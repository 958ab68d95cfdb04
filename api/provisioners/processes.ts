/**
 * Process helpers for the local provisioner: is a pid alive (and still ours), its descendants
 * (from /proc), and the one polite-then-kill stop.
 */
import type { ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

function readProc(pid: number, file: string): string | null {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return null;
  }
}

/** Which argv a process must have: `argv[index]` equals `value`, or ends with it. */
export interface ArgvMatch {
  index: number;
  value: string;
}

/** The process exists, is not a zombie, and its argv matches (pids get reused). */
export function isOurProcess(pid: number, match: ArgvMatch): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const stat = readProc(pid, 'stat');
  // state is the field after the parenthesised command name
  const state = stat ? stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) : '';
  if (state === 'Z' || state === 'X') return false;
  const cmdline = readProc(pid, 'cmdline');
  const arg = cmdline?.split('\0')[match.index];
  return arg !== undefined && (arg === match.value || arg.endsWith(`/${match.value}`));
}

/** A descendant of `root` (any depth) whose argv matches. */
export function findDescendant(root: number, match: ArgvMatch): number | null {
  const parentOf = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    const stat = readProc(pid, 'stat');
    if (!stat) continue;
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    parentOf.set(pid, Number(fields[1]));
  }
  for (const pid of parentOf.keys()) {
    let p: number | undefined = parentOf.get(pid);
    for (let depth = 0; p !== undefined && p > 1 && depth < 16; depth++) {
      if (p === root) {
        if (isOurProcess(pid, match)) return pid;
        break;
      }
      p = parentOf.get(p);
    }
  }
  return null;
}

export function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

/** A child we spawned has neither exited nor been killed by a signal. */
export const isRunning = (child: ChildProcess): boolean => child.exitCode === null && child.signalCode === null;

export interface TerminateOptions {
  /** How long after SIGTERM the processes still alive get SIGKILL. */
  graceMs: number;
  /** How long to wait for them to go after SIGKILL. */
  killWaitMs?: number;
  pollMs?: number;
}

const DEFAULT_KILL_WAIT_MS = 2_000;
const DEFAULT_POLL_MS = 50;

/**
 * SIGTERM to `politePid`, SIGKILL to whatever `alive()` still lists `graceMs` later (a timer,
 * cancelled once all are gone), then waits, bounded, for them to go. The pids need not be our
 * children (a restarted API stops the machines of the one before): no exit event can tell when
 * they are gone, so `alive()` is polled — it must check a pid is still ours, as pids get reused.
 */
export async function terminateThenKill(politePid: number, alive: () => number[], options: TerminateOptions): Promise<void> {
  const pollMs = options.pollMs ?? DEFAULT_POLL_MS;
  signal(politePid, 'SIGTERM');
  const killTimer = setTimeout(() => {
    for (const pid of alive()) signal(pid, 'SIGKILL');
  }, options.graceMs);
  try {
    const deadline = Date.now() + options.graceMs + (options.killWaitMs ?? DEFAULT_KILL_WAIT_MS);
    while (alive().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, pollMs));
  } finally {
    clearTimeout(killTimer);
  }
}
