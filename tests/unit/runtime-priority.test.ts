/** The autogroup niceness of a session machine's processes (Linux's per-session scheduling groups). */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { niceAutogroup, niceNewSessionGroup } from '../../session-runtime/priority.js';
import { REPO_ROOT } from '../helpers/paths.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait.js';

const autogroups = existsSync('/proc/self/autogroup');
/** As root, the unprivileged case runs as nobody (a sandboxed machine has no capabilities). */
const canDropToNobody = process.getuid?.() === 0 && spawnSync('su', ['nobody', '-s', '/bin/sh', '-c', 'true']).status === 0;

/** Nices five fresh groups in a row from a process of `nobody`; prints how many ended niced. */
const UNPRIVILEGED = `
import { spawn } from 'node:child_process';
import fs from 'node:fs';
const { niceAutogroup } = await import(process.argv[1]);
const kids = Array.from({ length: 5 }, () => spawn('sleep', ['30'], { detached: true, stdio: 'ignore' }));
await new Promise((r) => setTimeout(r, 100));
const errors = [];
for (const k of kids) niceAutogroup(k.pid, 8, (m) => errors.push(m));
const niced = () => kids.filter((k) => / nice 8$/.test(fs.readFileSync('/proc/' + k.pid + '/autogroup', 'utf8').trim())).length;
const end = Date.now() + 10000;
while (niced() < kids.length && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
console.log(JSON.stringify({ niced: niced(), errors }));
for (const k of kids) k.kill();
`;

describe('niceAutogroup', () => {
  it.skipIf(!autogroups)('nices the scheduling group of a process that leads a session of its own', async () => {
    const child = spawn('sleep', ['30'], { detached: true, stdio: 'ignore' });
    try {
      const group = (): string => readFileSync(`/proc/${child.pid}/autogroup`, 'utf8');
      await waitFor(() => group() !== readFileSync('/proc/self/autogroup', 'utf8'), 'a group of its own', { timeoutMs: 5_000 });
      const errors: string[] = [];
      niceAutogroup(child.pid!, 9, (message) => errors.push(message));
      // Without CAP_SYS_ADMIN the kernel may ask for a turn (EAGAIN): it is retried.
      await waitFor(() => / nice 9$/.test(group().trim()), 'its group niced', { timeoutMs: 5_000 });
      expect(errors).toEqual([]);
      // This process's own group is untouched.
      expect(readFileSync('/proc/self/autogroup', 'utf8')).not.toMatch(/ nice 9$/);
    } finally {
      child.kill();
    }
  });

  it.skipIf(!autogroups || !canDropToNobody)('without privileges takes turns with the kernel (one change per 100 ms) and gets them all done', () => {
    // A copy where nobody can read it (the checkout may sit under a directory closed to others);
    // the module imports only node:fs.
    const dir = tempDir('priority');
    chmodSync(dir, 0o755);
    copyFileSync(path.join(REPO_ROOT, 'dist/session-runtime/priority.js'), path.join(dir, 'priority.js'));
    chmodSync(path.join(dir, 'priority.js'), 0o644);
    const priority = pathToFileURL(path.join(dir, 'priority.js')).href;
    const script = `node --input-type=module -e "$0" '${priority}'`;
    const result = spawnSync('su', ['nobody', '-s', '/bin/sh', '-c', script, UNPRIVILEGED], { encoding: 'utf8', cwd: '/', timeout: 20_000 });
    expect(result.stderr).toBe('');
    expect(JSON.parse(result.stdout)).toEqual({ niced: 5, errors: [] });
  });

  it.skipIf(!autogroups)('for a child that makes itself a session leader late, waits and nices its new group, not ours', async () => {
    const ours = readFileSync('/proc/self/autogroup', 'utf8');
    // Not detached: it starts in our group and leaves it (setsid, same pid) 300 ms later, like
    // node-pty's child between fork and setsid on a loaded machine.
    const child = spawn('sh', ['-c', 'sleep 0.3; exec setsid sleep 30'], { stdio: 'ignore' });
    try {
      const group = (): string => readFileSync(`/proc/${child.pid}/autogroup`, 'utf8');
      expect(group()).toBe(ours);
      const errors: string[] = [];
      niceNewSessionGroup(child.pid!, 9, (message) => errors.push(message));
      await waitFor(() => / nice 9$/.test(group().trim()), 'its new group niced', { timeoutMs: 5_000 });
      expect(group().split(' ')[0]).not.toBe(ours.split(' ')[0]);
      expect(readFileSync('/proc/self/autogroup', 'utf8')).toBe(ours);
      expect(errors).toEqual([]);
    } finally {
      child.kill();
    }
  });

  it('says nothing about a process that is gone or a kernel without autogroups', () => {
    const errors: string[] = [];
    niceAutogroup(2 ** 30, 5, (message) => errors.push(message));
    niceNewSessionGroup(2 ** 30, 5, (message) => errors.push(message));
    expect(errors).toEqual([]);
  });
});
