/** /proc helpers for the local provisioner: is a pid alive (and still ours), its descendants. */
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
