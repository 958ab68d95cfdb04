/**
 * A session machine's CPU priority under Linux's autogroups.
 *
 * With autogroups (CONFIG_SCHED_AUTOGROUP, on in Debian's and most distributions' kernels)
 * every session — setsid — is a scheduling group of its own, the groups share the CPU by the
 * group's niceness, and a process's own nice value ranks it only within its group. A local
 * machine is started detached (a session of its own) and the PTY makes the agent the leader of
 * another: niceness 5 on the runtime and the agent weighed nothing against the control plane,
 * the CLIs and the user's own work. So the group's niceness (/proc/<pid>/autogroup) is set too.
 *
 * Groups apply only in the root cgroup: where sessions live in cgroups of their own (systemd
 * slices, containers) the write is accepted and has no effect, and plain nice does the work.
 * A kernel without autogroups has no such file. Without CAP_SYS_ADMIN the kernel accepts one
 * such write per 100 ms on the whole machine (EAGAIN otherwise): machines starting together
 * take turns, retrying in the background, so nobody's start waits for it.
 */
import fs from 'node:fs';

const RETRY_MS = 100;
/** 20 machines starting at once, two groups each: 4 s of turns; this leaves room. */
const ATTEMPTS = 100;

/**
 * Sets the niceness of the autogroup `pid` ('self': this process) belongs to. Errors other than
 * "no autogroups here" and "the process is gone" go to `onError` (the priority is a courtesy:
 * nothing fails without it).
 */
export function niceAutogroup(pid: number | 'self', nice: number, onError: (message: string) => void): void {
  const file = `/proc/${pid}/autogroup`;
  let attempt = 0;
  const tryOnce = (): void => {
    attempt++;
    try {
      fs.writeFileSync(file, String(nice));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ESRCH') return;
      if (code === 'EAGAIN' && attempt < ATTEMPTS) {
        setTimeout(tryOnce, RETRY_MS * (0.5 + Math.random())).unref();
        return;
      }
      onError(`cannot set the CPU priority of ${file} to niceness ${nice}: ${(err as Error).message}`);
    }
  };
  tryOnce();
}

/** How often, and how many times, to look whether a new session leader left our group. */
const SETSID_POLL_MS = 5;
const SETSID_POLLS = 400;

/** The autogroup `pid` belongs to ("/autogroup-123"); null where there are none or it is gone. */
function autogroupOf(pid: number | 'self'): string | null {
  try {
    return fs.readFileSync(`/proc/${pid}/autogroup`, 'utf8').split(' ')[0] ?? null;
  } catch {
    return null;
  }
}

/**
 * niceAutogroup for a child that makes itself a session leader (setsid) after we forked it, as
 * node-pty's child does: until it has, it is still in our group, and the write would nice ours
 * and leave the group it then creates at niceness 0 — a race a loaded machine loses (a CI run
 * caught the agent's group at 0). So the write waits until the child's group is not ours.
 */
export function niceNewSessionGroup(pid: number, nice: number, onError: (message: string) => void): void {
  const ours = autogroupOf('self');
  if (ours === null) return;
  let polls = 0;
  const check = (): void => {
    const theirs = autogroupOf(pid);
    if (theirs === null) return;
    if (theirs !== ours) return niceAutogroup(pid, nice, onError);
    if (++polls < SETSID_POLLS) setTimeout(check, SETSID_POLL_MS).unref();
    else onError(`process ${pid} is still in this process's scheduling group after ${SETSID_POLLS * SETSID_POLL_MS} ms: its group keeps niceness 0`);
  };
  check();
}
