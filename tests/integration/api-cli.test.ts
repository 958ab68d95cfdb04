/** The catty-api bin: `users add` and the embedded local mode's credentials file. Secrets never
 * reaching the database or the logs (SECURITY.md 32) is in tests/security/secrets.test.ts. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LocalCredentials } from '../../api/contract/schemas.js';
import { API_BIN } from '../helpers/paths.js';
import { killMachines, testClient } from '../helpers/api.js';
import { onCleanup } from '../helpers/cleanup.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait.js';
import { routes } from '../../api/contract/routes.js';
import { verifyPassword } from '../../api/auth/passwords.js';
import { issueTokenPair, userForAccessToken } from '../../api/auth/tokens.js';
import type { Config } from '../../api/config.js';
import { iso } from '../../api/state/db.js';
import { openApiDb, testDatabaseEnv, testDatabaseKind } from '../helpers/postgres.js';
import { insertSession } from '../../api/state/sessions.js';
import { userByEmail } from '../../api/state/users.js';

function baseEnv(dataDir: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME, CATTY_DATA_DIR: dataDir, CATTY_API_LISTEN: '127.0.0.1:0', ...extra };
}

async function startLocal(home: string, dataDir: string, extra: Record<string, string> = {}): Promise<{ proc: ChildProcess; creds: LocalCredentials; stderr: () => string }> {
  const credsFile = join(home, 'local', 'credentials.json');
  const proc = spawn(process.execPath, [API_BIN, '--local-credentials', credsFile], { env: baseEnv(dataDir, { CATTY_PROVISIONER: 'local', ...extra }), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  onCleanup(async () => {
    if (proc.exitCode === null) {
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await exited;
    }
    killMachines(dataDir);
  });
  await waitFor(() => {
    if (proc.exitCode !== null) throw new Error(`catty-api exited: ${stderr}`);
    return stdout.includes('catty-api listening on ');
  }, 'catty-api to listen', { timeoutMs: 30_000, everyMs: 50 });
  const creds = LocalCredentials.parse(JSON.parse(readFileSync(credsFile, 'utf8')));
  expect(stdout).toContain(`catty-api listening on ${creds.apiUrl}`);
  expect(statSync(credsFile).mode & 0o777).toBe(0o600);
  expect(creds.pid).toBe(proc.pid);
  return { proc, creds, stderr: () => stderr };
}

describe('catty-api users add', () => {
  it('creates accounts from --password-stdin, refuses duplicates and bad input with exit 2', async () => {
    const dataDir = tempDir('api-cli');
    const dbEnv = await testDatabaseEnv();
    const add = (email: string, password: string) => spawnSync(process.execPath, [API_BIN, 'users', 'add', email, '--password-stdin'], { env: baseEnv(dataDir, dbEnv), input: `${password}\n`, encoding: 'utf8' });
    const ok = add('dev@example.com', 'long-enough-pw');
    expect(ok.status).toBe(0);
    expect(ok.stdout).toMatch(/created dev@example.com/);
    const dup = add('DEV@example.com', 'long-enough-pw');
    expect(dup.status).toBe(2);
    expect(dup.stderr).toMatch(/already exists/);
    expect(add('not-an-email', 'long-enough-pw').status).toBe(2);
    expect(add('short@example.com', 'short').stderr).toMatch(/at least 8/);
    if (testDatabaseKind() === 'sqlite') {
      expect(readFileSync(join(dataDir, 'catty.db')).toString('latin1')).not.toContain('long-enough-pw');
    } else {
      const db = await openApiDb(dataDir, dbEnv);
      const users = await db.k.selectFrom('users').selectAll().execute();
      await db.close();
      expect(users.map((u) => u.email)).toEqual(['dev@example.com']);
      expect(JSON.stringify(users)).not.toContain('long-enough-pw');
    }
  });
});

describe('catty-api users list / reset-password / remove', () => {
  it('lists accounts, resets a password signing the account out, and removes only an account without sessions', async () => {
    const dataDir = tempDir('api-users');
    const dbEnv = await testDatabaseEnv();
    const users = (args: string[], input = '') => spawnSync(process.execPath, [API_BIN, 'users', ...args], { env: baseEnv(dataDir, dbEnv), input, encoding: 'utf8' });
    expect(users(['add', 'a@example.com', '--password-stdin'], 'first-password\n').status).toBe(0);
    expect(users(['add', 'b@example.com', '--password-stdin'], 'first-password\n').status).toBe(0);
    // a@ is logged in somewhere; b@ has a session running.
    const db = await openApiDb(dataDir, dbEnv);
    const deps = { db, now: () => Date.now(), config: { accessTokenTtlSec: 3600, refreshTokenTtlSec: 86_400 } as Config };
    const a = (await userByEmail(db, 'a@example.com'))!;
    const b = (await userByEmail(db, 'b@example.com'))!;
    const login = await issueTokenPair(deps, a.id);
    const at = iso(Date.now());
    await insertSession(db, { id: 's-b', owner_id: b.id, label: 'calm-otter-0001', status: 'running', agent: 'shell', provisioner: 'local', connect_token_enc: null, ttl_sec: 3600, created_at: at, last_activity_at: at });

    const listed = users(['list', '--json']);
    expect(listed.status).toBe(0);
    expect(JSON.parse(listed.stdout)).toEqual([
      { id: a.id, email: 'a@example.com', createdAt: a.created_at, sessions: 0, running: 0 },
      { id: b.id, email: 'b@example.com', createdAt: b.created_at, sessions: 1, running: 1 },
    ]);
    expect(users(['list']).stdout).toMatch(/^EMAIL +CREATED +SESSIONS +ID\n[\s\S]*b@example\.com +\d{4}-\d\d-\d\d +1 \(1 running\)/);

    const reset = users(['reset-password', 'A@example.com', '--password-stdin'], 'second-password\n');
    expect(reset.status, reset.stderr).toBe(0);
    expect(reset.stdout).toContain('new password set for a@example.com; 1 login signed out');
    expect(await userForAccessToken(deps, login.access_token)).toBeNull();
    expect(await verifyPassword('second-password', (await userByEmail(db, 'a@example.com'))!.password_hash)).toBe(true);
    expect(users(['reset-password', 'a@example.com', '--password-stdin'], 'short\n').status).toBe(2);

    // Refused while a session runs (this command cannot stop its machine), naming it.
    const refused = users(['remove', 'b@example.com']);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain('b@example.com still has 1 session (1 running): calm-otter-0001');
    expect(refused.stderr).toContain('catty stop LABEL --delete');
    expect(await userByEmail(db, 'b@example.com')).toBeDefined();

    const removed = users(['remove', 'a@example.com']);
    expect(removed.status, removed.stderr).toBe(0);
    expect(removed.stdout).toContain(`removed a@example.com (${a.id})`);
    expect(await userByEmail(db, 'a@example.com')).toBeUndefined();
    expect(await db.k.selectFrom('tokens').select('hash').where('user_id', '=', a.id).execute()).toEqual([]);
    expect(users(['remove', 'a@example.com']).stderr).toContain('no account for a@example.com');
    await db.close();
  }, 90_000);
});

describe('catty-api --local-credentials', () => {
  it('writes a 0600 token for the local account; a restart reuses the account', async () => {
    const home = tempDir('api-cli');
    const dataDir = join(home, 'local', 'data');
    const first = await startLocal(home, dataDir);
    const me = await testClient(first.creds.apiUrl, first.creds.accessToken).call(routes.me);
    expect(me.email).toBe('local@localhost');
    expect(statSync(join(dataDir, 'secret.key')).mode & 0o777).toBe(0o600);
    expect(statSync(join(dataDir, 'catty.db')).mode & 0o777).toBe(0o600);
    const exited = new Promise((r) => first.proc.once('exit', r));
    first.proc.kill('SIGTERM');
    expect(await exited).toBe(0);
    const second = await startLocal(home, dataDir);
    expect((await testClient(second.creds.apiUrl, second.creds.accessToken).call(routes.me)).id).toBe(me.id);
    // the old token is still valid (not revoked by a restart)
    expect((await testClient(second.creds.apiUrl, first.creds.accessToken).call(routes.me)).id).toBe(me.id);
  });
});
