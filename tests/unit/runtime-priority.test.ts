/** The autogroup niceness of a session machine's processes (Linux's per-session scheduling groups). */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { niceAutogroup } from '../../session-runtime/priority.js';

const autogroups = existsSync('/proc/self/autogroup');

async function until(check: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('niceAutogroup', () => {
  it.skipIf(!autogroups)('nices the scheduling group of a process that leads a session of its own', async () => {
    const child = spawn('sleep', ['30'], { detached: true, stdio: 'ignore' });
    try {
      const group = (): string => readFileSync(`/proc/${child.pid}/autogroup`, 'utf8');
      await until(() => group() !== readFileSync('/proc/self/autogroup', 'utf8'));
      const errors: string[] = [];
      niceAutogroup(child.pid!, 9, (message) => errors.push(message));
      // Without CAP_SYS_ADMIN the kernel may ask for a turn (EAGAIN): it is retried.
      await until(() => / nice 9$/.test(group().trim()));
      expect(errors).toEqual([]);
      // This process's own group is untouched.
      expect(readFileSync('/proc/self/autogroup', 'utf8')).not.toMatch(/ nice 9$/);
    } finally {
      child.kill();
    }
  });

  it('says nothing about a process that is gone or a kernel without autogroups', () => {
    const errors: string[] = [];
    niceAutogroup(2 ** 30, 5, (message) => errors.push(message));
    expect(errors).toEqual([]);
  });
});
