/** One catty-api per data directory: the pid file's claim, release and stale takeover. */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { acquirePidLock, liveApiProcess } from '../../api/pid-lock.js';
import { tempDir } from '../helpers/temp-dir.js';

const lockIn = () => path.join(tempDir('pidlock'), 'catty-api.pid');

describe('acquirePidLock', () => {
  it('claims a free file with our pid, leaves no temp file behind, and releases it', () => {
    const file = lockIn();
    const result = acquirePidLock(file);
    if (!('lock' in result)) throw new Error(`held by ${result.heldBy}`);
    expect(fs.readFileSync(file, 'utf8').trim()).toBe(String(process.pid));
    expect(fs.readdirSync(path.dirname(file))).toEqual(['catty-api.pid']);
    result.lock.release();
    expect(fs.existsSync(file)).toBe(false);
  });

  it('reports a live holder and leaves its file alone', () => {
    const file = lockIn();
    fs.writeFileSync(file, '4242\n');
    expect(acquirePidLock(file, (pid) => pid === 4242)).toEqual({ heldBy: 4242 });
    expect(fs.readFileSync(file, 'utf8')).toBe('4242\n');
  });

  it('takes over a file whose process is gone, or that holds garbage', () => {
    for (const stale of ['999999999\n', 'not a pid']) {
      const file = lockIn();
      fs.writeFileSync(file, stale);
      const result = acquirePidLock(file);
      expect('lock' in result).toBe(true);
      expect(fs.readFileSync(file, 'utf8').trim()).toBe(String(process.pid));
    }
  });

  it('release does not remove a file that is no longer ours', () => {
    const file = lockIn();
    const result = acquirePidLock(file);
    if (!('lock' in result)) throw new Error('not acquired');
    fs.writeFileSync(file, '4242\n');
    result.lock.release();
    expect(fs.readFileSync(file, 'utf8')).toBe('4242\n');
  });
});

describe('liveApiProcess', () => {
  it('is true for a live process run as catty-api', async () => {
    const api = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)', '/opt/catty/dist/api/bin.js']);
    try {
      await new Promise((resolve) => api.once('spawn', resolve));
      expect(liveApiProcess(api.pid!)).toBe(true);
    } finally {
      api.kill();
    }
  });

  it('is false for our own pid, a dead pid, and (on Linux) a live process that is not a catty-api', async () => {
    expect(liveApiProcess(process.pid)).toBe(false);
    expect(liveApiProcess(999_999_999)).toBe(false);
    const sleeper = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)', 'rapid-api']); // "api" alone does not make one
    try {
      await new Promise((resolve) => sleeper.once('spawn', resolve));
      expect(liveApiProcess(sleeper.pid!)).toBe(!fs.existsSync('/proc/self/cmdline'));
    } finally {
      sleeper.kill();
    }
  });
});
