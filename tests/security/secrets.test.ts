/**
 * SECURITY.md 30–33: secrets. 30, 31 and 33 exercise the CLI's secret store (AES-256-GCM, the
 * name as associated data, the key in the keychain or a 0600 file) and `catty secrets`; 32 runs
 * end to end against the built catty-api (local provisioner, real runtime, embedded S3): the
 * secret reaches the agent's environment and nowhere else.
 */
import { createHash } from 'node:crypto';
import fs, { readdirSync, readFileSync, statSync } from 'node:fs';
import path, { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SecretStore } from '../../cli/secrets/store.js';
import { fileKeySource } from '../../cli/secrets/key.js';
import { startTestApi, type TestApi, sessionLogs } from '../helpers/api.js';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait.js';
import { buildZip } from '../helpers/runtime-zip.js';
import { runtimeFetch } from '../helpers/runtime.js';
import { routes } from '../../api/contract/routes.js';
import type { Db } from '../../api/state/db.js';
import { testDatabaseKind } from '../helpers/postgres.js';

/** Every regular file under `dir` (symlinks not followed). */
function walk(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = statSync(p, { throwIfNoEntry: false });
    if (!st) continue;
    if (st.isDirectory()) out.push(...walk(p));
    else if (st.isFile()) out.push(p);
  }
  return out;
}


function storeIn(dir: string, salt = 'machine-A'): SecretStore {
  return new SecretStore({ file: path.join(dir, 'secrets.json'), keySource: fileKeySource(path.join(dir, 'secret.key')), salt: () => salt });
}

type SealedFile = { version: 1; secrets: Record<string, { nonce: string; ciphertext: string; tag: string }> };
const readFile = (dir: string) => JSON.parse(fs.readFileSync(path.join(dir, 'secrets.json'), 'utf8')) as SealedFile;

describe('SECURITY.md 30, 31, 33 (the CLI secret store)', () => {
  it('30: one byte flipped → a clear decryption error; none of the secrets is used', () => {
    const dir = tempDir('sec');
    storeIn(dir).set('A', 'alpha-value');
    storeIn(dir).set('B', 'beta-value');
    const file = readFile(dir);
    const ct = Buffer.from(file.secrets.B?.ciphertext ?? '', 'base64');
    ct[0] = (ct[0] ?? 0) ^ 1;
    (file.secrets.B as { ciphertext: string }).ciphertext = ct.toString('base64');
    fs.writeFileSync(path.join(dir, 'secrets.json'), JSON.stringify(file));
    expect(() => storeIn(dir).all()).toThrow(/secret B does not decrypt/);
  });


  it('30: the files copied to another machine → a clear error', () => {
    const dir = tempDir('sec');
    storeIn(dir, 'machine-A').set('A', 'alpha-value');
    const other = tempDir('sec');
    for (const f of ['secrets.json', 'secret.key']) fs.copyFileSync(path.join(dir, f), path.join(other, f));
    expect(() => storeIn(other, 'machine-B').all()).toThrow(/encrypted on another machine/);
    expect(storeIn(other, 'machine-A').all()).toEqual({ A: 'alpha-value' });
  });


  it('30: the key missing → a clear error', () => {
    const dir = tempDir('sec');
    storeIn(dir).set('A', 'alpha-value');
    fs.rmSync(path.join(dir, 'secret.key'));
    expect(() => storeIn(dir).all()).toThrow(/key is missing/);
  });


  it('31: a fresh random nonce for every encryption', () => {
    const dir = tempDir('sec');
    const store = storeIn(dir);
    store.set('A', 'same');
    const first = readFile(dir).secrets.A;
    store.set('A', 'same');
    const second = readFile(dir).secrets.A;
    expect(first?.nonce).not.toBe(second?.nonce);
    expect(first?.ciphertext).not.toBe(second?.ciphertext);
    expect(Buffer.from(second?.nonce ?? '', 'base64')).toHaveLength(12);
  });


  it('31: the name is associated data: swapping two ciphertexts fails', () => {
    const dir = tempDir('sec');
    storeIn(dir).set('A', 'alpha-value');
    storeIn(dir).set('B', 'beta-value');
    const file = readFile(dir);
    [file.secrets.A, file.secrets.B] = [file.secrets.B!, file.secrets.A!];
    fs.writeFileSync(path.join(dir, 'secrets.json'), JSON.stringify(file));
    expect(() => storeIn(dir).all()).toThrow(/does not decrypt/);
  });


  it.each(['lower', '1ABC', 'HAS SPACE', 'A=B', 'PATH', 'HOME', 'CATTY_TOKEN', 'IS_SANDBOX', ''])('33: the secret name %j is refused (not an env name, or reserved)', (name) => {
    expect(() => storeIn(tempDir('sec')).set(name, 'v')).toThrow(/Secret name/);
  });

  it('33: `catty secrets set` with a reserved name exits 2 and says why', async () => {
    const result = await runCli(['secrets', 'set', 'CATTY_X', 'v'], { home: tempDir('sec') });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('reserved');
  });
});

describe('SECURITY.md 32 (built catty-api, real runtime, embedded S3)', () => {
  let api: TestApi;
  let logDir: string;
  beforeAll(async () => {
    logDir = tempDir('sec-log');
    api = await startTestApi({ env: { CATTY_LOG_FILE: join(logDir, 'api.log'), CATTY_LOG_LEVEL: 'trace' } });
  }, 60_000);
  afterAll(async () => {
    await api?.close();
  });

  it('32: a secret reaches the agent only — never the workspace, a snapshot, the database or any log', async () => {
    const secret = 'sk-secret-value-91b3f0';
    const s = await api.client.call(routes.createSession, { body: {
      cmd: 'printf "%s" "$MY_TOKEN" | sha256sum; echo work > /workspace/out.txt; echo SECRET-CHECK-DONE; sleep 600',
      secrets: { MY_TOKEN: secret },
    } });
    const zip = buildZip([{ name: 'README.md', data: '# project\n' }]);
    const up = await runtimeFetch(s, '/upload', { method: 'POST', headers: { authorization: `Bearer ${s.connectToken}`, 'content-type': 'application/zip' }, body: new Uint8Array(zip) });
    expect(up.status).toBe(200);
    const out = await waitFor(async () => {
      const text = (await sessionLogs(api.client, s.label)).toString();
      return text.includes('SECRET-CHECK-DONE') && text;
    }, 'the agent output', { timeoutMs: 30_000, everyMs: 100 });
    // The agent saw it (it printed only its hash).
    expect(out).toContain(createHash('sha256').update(secret).digest('hex'));
    await api.client.call(routes.stop, { params: { ref: s.label } }); // final snapshot, final logs
    const snapshot = await api.client.call(routes.download, { params: { ref: s.label } });
    const tarball = Buffer.from(await (await fetch(snapshot.url)).arrayBuffer());
    expect(createHash('sha256').update(tarball).digest('hex')).toBe(snapshot.sha256);
    const tar = gunzipSync(tarball).toString('latin1');
    expect(tar).toContain('work\n'); // the snapshot has the workspace
    expect(tar).not.toContain(secret);
    const files = [join(logDir, 'api.log'), ...walk(api.dataDir)];
    for (const f of files) expect(readFileSync(f).toString('latin1'), f).not.toContain(secret);
    // The database itself: its file on SQLite (among those above), every row of every table on Postgres.
    if (testDatabaseKind() === 'sqlite') expect(files.some((f) => f.endsWith('catty.db'))).toBe(true);
    else expect(await dumpDatabase(api), 'the database').not.toContain(secret);
    expect(api.output()).not.toContain(secret);
    expect((await sessionLogs(api.client, s.label)).toString()).not.toContain(secret);
    expect(readFileSync(join(logDir, 'api.log'), 'utf8')).not.toContain(api.token);
  });
});

/** Every row of every table of the API's database, as text. */
async function dumpDatabase(api: { openDb(): Promise<Db> }): Promise<string> {
  const db = await api.openDb();
  try {
    const tables = ['users', 'tokens', 'device_codes', 'web_sessions', 'sessions', 'snapshots', 'egress_refusals', 'login_throttle', 'agent_state_keys'] as const;
    const rows = await Promise.all(tables.map((t) => db.k.selectFrom(t).selectAll().execute()));
    return JSON.stringify(rows);
  } finally {
    await db.close();
  }
}
