/**
 * One local control plane per $CATTY_HOME, however many `catty`s ask for it at once and however
 * slow it is to answer. (Twenty `catty connect`s started together on a loaded machine once each
 * found it slow, deleted its credentials and started their own: twenty catty-apis on one
 * database.)
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { API_BIN } from '../helpers/paths.js';
import { tempDir } from '../helpers/temp-dir.js';
import { elapse, waitFor } from '../helpers/wait.js';
import { runCatty } from './harness.js';

const home = tempDir('one-api');
const env = { PATH: process.env.PATH, HOME: home, CATTY_HOME: path.join(home, '.catty'), CATTY_LOCAL_SANDBOX: 'none' };
const dataDir = path.join(home, '.catty/local/data');

/** Live catty-api processes serving this home (by the credentials path on their command line). */
function apiPids(): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (cmdline.includes('api/bin.js') && cmdline.includes(home)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

const pidOf = (out: string) => Number(/pid (\d+)/.exec(out)?.[1]);

afterAll(async () => {
  for (const pid of apiPids()) process.kill(pid, 'SIGCONT');
  await runCatty(['server', 'stop'], { cwd: home, env }).catch(() => undefined);
  for (const pid of apiPids()) process.kill(pid, 'SIGKILL');
});

describe('the local control plane', () => {
  it('eight `catty server start` at once: one catty-api serves, every one of them reports it', async () => {
    const runs = await Promise.all(Array.from({ length: 8 }, () => runCatty(['server', 'start'], { cwd: home, env })));
    for (const r of runs) expect(r.code, r.stderr).toBe(0);
    const pids = new Set(runs.map((r) => pidOf(r.stdout)));
    expect(pids.size).toBe(1);
    expect(runs.filter((r) => r.stdout.startsWith('Started')).length).toBe(1);
    // The spawns that lost the race exit by themselves.
    await waitFor(() => apiPids().length === 1, 'one catty-api left', { timeoutMs: 20_000 });
    expect(apiPids()).toEqual([...pids]);
  }, 90_000);

  it('a stopped (SIGSTOP) control plane is waited for, not replaced; it serves again once continued', async () => {
    const [pid] = apiPids();
    process.kill(pid!, 'SIGSTOP');
    try {
      const started = runCatty(['server', 'start'], { cwd: home, env });
      // On purpose: long past one health question's timeout (5 s): still no second catty-api.
      await elapse(7_000);
      expect(apiPids()).toEqual([pid]);
      process.kill(pid!, 'SIGCONT');
      const r = await started;
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain(`Already running`);
      expect(pidOf(r.stdout)).toBe(pid);
    } finally {
      process.kill(pid!, 'SIGCONT');
    }
  }, 60_000);

  it('a second catty-api on the same data directory refuses to serve it (exit 3), naming the first', async () => {
    const [pid] = apiPids();
    const second = spawn(process.execPath, [API_BIN, '--listen', '127.0.0.1:0', '--data-dir', dataDir], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    second.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise((resolve) => second.once('exit', resolve));
    expect(code).toBe(3);
    expect(stderr).toContain(`another catty-api (pid ${pid}) is already serving ${dataDir}`);
  }, 30_000);

  it('after the control plane is killed (-9), the next command starts a new one over its stale lock', async () => {
    const [old] = apiPids();
    process.kill(old!, 'SIGKILL');
    await waitFor(() => apiPids().length === 0, 'the old catty-api gone', { timeoutMs: 20_000 });
    expect(fs.readFileSync(path.join(dataDir, 'catty-api.pid'), 'utf8').trim()).toBe(String(old));
    const r = await runCatty(['server', 'start'], { cwd: home, env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^Started/);
    expect(apiPids()).toEqual([pidOf(r.stdout)]);
  }, 60_000);
});
