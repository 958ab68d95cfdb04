/**
 * Postgres not there: at start (a wrong CATTY_DATABASE_URL, a server that does not answer) the
 * API refuses with one message naming the setting and makes nothing; lost mid-run, requests get
 * a 503 within seconds (no crash, no hang) and the API recovers when the server is back. The
 * mid-run test stops and starts a server of its own, not the run's shared one.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { routes } from '../../api/contract/routes.js';
import { startTestApi } from '../helpers/api.js';
import { onCleanup } from '../helpers/cleanup.js';
import { API_BIN } from '../helpers/paths.js';
import { freePort, removeServerDir, startPostgresServer } from '../helpers/postgres.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait.js';

function startApiWith(url: string) {
  const dataDir = join(tempDir('pg-refused'), 'data');
  const env = { PATH: process.env.PATH, HOME: process.env.HOME, CATTY_DATA_DIR: dataDir, CATTY_API_LISTEN: '127.0.0.1:0', CATTY_DATABASE_URL: url };
  const started = Date.now();
  const res = spawnSync(process.execPath, [API_BIN], { env, encoding: 'utf8', timeout: 30_000 });
  return { ...res, ms: Date.now() - started, dataDir };
}

describe('Postgres at start', () => {
  it('a wrong URL or a server that is not there: one message naming CATTY_DATABASE_URL, exit non-zero, nothing made', async () => {
    const port = await freePort();
    for (const url of [`postgres://catty:hunter2-secret@127.0.0.1:${port}/catty`, 'mysql://catty@127.0.0.1/catty', 'postgres://::nonsense']) {
      const res = startApiWith(url);
      expect(res.status, res.stderr).not.toBe(0);
      expect(res.status).not.toBeNull();
      const first = res.stderr.split('\n')[0]!;
      expect(first).toMatch(/^catty-api: cannot use the database at CATTY_DATABASE_URL /);
      // No stack, and the password never printed.
      expect(res.stderr).not.toMatch(/\n\s+at /);
      expect(res.stderr).not.toContain('hunter2-secret');
      // Nothing half-made: no key, no SQLite file, no embedded S3 store, no pid file left.
      const made = existsSync(res.dataDir) ? readdirSync(res.dataDir) : [];
      expect(made).toEqual([]);
      expect(res.ms).toBeLessThan(15_000);
    }
  });
});

describe('Postgres lost mid-run', () => {
  it('requests get a 503 within seconds while it is down, and the API recovers when it is back', async () => {
    // Its own directory, which the postgres user can reach (a test temp dir is 0700 root).
    const dir = mkdtempSync('/tmp/catty-pg-own-');
    chmodSync(dir, 0o755);
    const server = await startPostgresServer(join(dir, 'pg'));
    onCleanup(() => {
      try {
        server.stop();
      } catch {
        // already stopped
      }
      removeServerDir(dir);
    });
    const admin = new pg.Client({ host: '127.0.0.1', port: server.port, user: 'postgres', database: 'postgres' });
    await admin.connect();
    await admin.query('CREATE DATABASE catty TEMPLATE template0');
    await admin.end();
    const api = await startTestApi({ database: 'postgres', env: { CATTY_DATABASE_URL: `postgres://postgres@127.0.0.1:${server.port}/catty` } });
    onCleanup(() => api.close());
    expect((await api.client.send(routes.listSessions)).status).toBe(200);

    server.stop();
    for (const send of [() => api.client.send(routes.listSessions), () => api.client.send(routes.deviceCode), () => api.client.send(routes.me)]) {
      const started = Date.now();
      const answer = await send();
      expect(answer.status).toBe(503);
      expect(answer.json).toEqual({ error: { code: 'database_unavailable', message: 'the state database is unreachable; try again shortly' } });
      expect(Date.now() - started).toBeLessThan(5000);
    }
    // Still running, and not from a crash loop: the same process.
    expect(() => process.kill(api.pid, 0)).not.toThrow();

    server.start();
    await waitFor(async () => (await api.client.send(routes.listSessions)).status === 200, 'the API to answer again', { timeoutMs: 30_000, everyMs: 200 });
    const created = await api.client.send(routes.deviceCode);
    expect(created.status).toBe(200);
  }, 120_000);
});
