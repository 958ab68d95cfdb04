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
  it('creates accounts from --password-stdin, refuses duplicates and bad input with exit 2', () => {
    const dataDir = tempDir('api-cli');
    const add = (email: string, password: string) => spawnSync(process.execPath, [API_BIN, 'users', 'add', email, '--password-stdin'], { env: baseEnv(dataDir), input: `${password}\n`, encoding: 'utf8' });
    const ok = add('dev@example.com', 'long-enough-pw');
    expect(ok.status).toBe(0);
    expect(ok.stdout).toMatch(/created dev@example.com/);
    const dup = add('DEV@example.com', 'long-enough-pw');
    expect(dup.status).toBe(2);
    expect(dup.stderr).toMatch(/already exists/);
    expect(add('not-an-email', 'long-enough-pw').status).toBe(2);
    expect(add('short@example.com', 'short').stderr).toMatch(/at least 8/);
    const db = readFileSync(join(dataDir, 'catty.db')).toString('latin1');
    expect(db).not.toContain('long-enough-pw');
  });
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
