/**
 * CATTY_MODE=shared (api/shared-mode.ts through api/config.ts's loadConfig): each missing piece is
 * refused with one line saying what to set; the sealing key's forms (env, file, rotation) are
 * parsed and never printed; Postgres without shared mode stays allowed with any provisioner.
 */
import fs from 'node:fs';
import path from 'node:path';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../api/config.js';
import { UserError } from '../../session-runtime/wire/errors.js';
import { REPO_ROOT } from '../helpers/paths.js';
import { tempDir } from '../helpers/temp-dir.js';

const KEY_A = Buffer.alloc(32, 1).toString('base64');
const KEY_B = Buffer.alloc(32, 2).toString('base64');
const SHARED = {
  CATTY_MODE: 'shared',
  CATTY_DATABASE_URL: 'postgres://catty@db:5432/catty',
  CATTY_SECRET_KEY: KEY_A,
  CATTY_S3_ENDPOINT: 'http://s3:9000',
  CATTY_PUBLIC_URL: 'https://catty.example',
  CATTY_PROVISIONER: 'docker',
};

/** The refusal's whole text (message and detail lines). */
function refusal(env: Record<string, string | undefined>): string {
  try {
    loadConfig({}, env);
  } catch (err) {
    expect(err).toBeInstanceOf(UserError);
    const e = err as UserError;
    expect(e.exitCode).toBe(2);
    return [e.message, ...e.details].join('\n');
  }
  throw new Error('expected a refusal');
}

describe('CATTY_MODE=shared', () => {
  it('starts with every shared piece set; machines call back through the public URL', () => {
    const c = loadConfig({}, SHARED);
    expect(c.mode).toBe('shared');
    expect(c.databaseUrl).toBe(SHARED.CATTY_DATABASE_URL);
    expect(c.sealingKeys?.current.equals(Buffer.alloc(32, 1))).toBe(true);
    expect(c.machineApiUrl).toBe('https://catty.example');
    expect(loadConfig({}, { ...SHARED, CATTY_MACHINE_API_URL: 'http://lb.internal:80/' }).machineApiUrl).toBe('http://lb.internal:80');
  });

  it.each([
    ['CATTY_DATABASE_URL', { CATTY_DATABASE_URL: undefined }, /set CATTY_DATABASE_URL=postgres:\/\//],
    ['a SQLite path as CATTY_DATABASE_URL', { CATTY_DATABASE_URL: '/data/catty.db' }, /set CATTY_DATABASE_URL=postgres:\/\//],
    ['CATTY_SECRET_KEY', { CATTY_SECRET_KEY: undefined }, /set CATTY_SECRET_KEY \(or CATTY_SECRET_KEY_FILE\) to the same key on each/],
    ['CATTY_S3_ENDPOINT', { CATTY_S3_ENDPOINT: undefined }, /embedded S3 store is per replica: set CATTY_S3_ENDPOINT/],
    ['CATTY_PUBLIC_URL', { CATTY_PUBLIC_URL: undefined }, /set CATTY_PUBLIC_URL to the load balancer's URL/],
    ['the local provisioner', { CATTY_PROVISIONER: 'local' }, /set CATTY_PROVISIONER=swarm, or docker when every replica runs on the Docker engine's host sharing CATTY_DOCKER_RUN_DIR and the data directory/],
  ])('refuses without %s, in one line that says what to set', (_what, change, message) => {
    const text = refusal({ ...SHARED, ...change });
    expect(text).toMatch(/^CATTY_MODE=shared: /);
    expect(text.split('\n')).toHaveLength(1);
    expect(text).toMatch(message);
  });

  it('lists every missing piece at once, one line each', () => {
    const text = refusal({ CATTY_MODE: 'shared' });
    expect(text.split('\n')[0]).toBe('CATTY_MODE=shared needs 5 more settings:');
    for (const name of ['CATTY_DATABASE_URL', 'CATTY_SECRET_KEY', 'CATTY_S3_ENDPOINT', 'CATTY_PUBLIC_URL', 'CATTY_PROVISIONER=swarm']) {
      expect(text.split('\n').filter((l) => l.includes(name))).toHaveLength(1);
    }
  });

  it('allows Postgres without shared mode, with any provisioner and no key', () => {
    const c = loadConfig({}, { CATTY_DATABASE_URL: 'postgres://db/catty', CATTY_PROVISIONER: 'local' });
    expect(c.mode).toBe('single');
    expect(c.sealingKeys).toBeNull();
    expect(c.machineApiUrl).toBeNull();
  });

  it('refuses an unknown mode', () => {
    expect(refusal({ CATTY_MODE: 'cluster' })).toMatch(/CATTY_MODE must be single or shared/);
  });
});

describe('the sealing key settings', () => {
  it('takes the key from a file (config file or _FILE), and a previous key for a rotation', () => {
    const dir = tempDir('keys');
    fs.writeFileSync(path.join(dir, 'new'), `${KEY_B}\n`);
    fs.writeFileSync(path.join(dir, 'old'), KEY_A);
    const viaEnv = loadConfig({}, { CATTY_SECRET_KEY_FILE: path.join(dir, 'new'), CATTY_SECRET_KEY_PREVIOUS: KEY_A });
    expect(viaEnv.sealingKeys?.current.equals(Buffer.alloc(32, 2))).toBe(true);
    expect(viaEnv.sealingKeys?.previous?.equals(Buffer.alloc(32, 1))).toBe(true);
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ mode: 'single', secretKeyFile: path.join(dir, 'new'), secretKeyPreviousFile: path.join(dir, 'old') }));
    const viaFile = loadConfig({ config: path.join(dir, 'config.json') }, {});
    expect(viaFile.sealingKeys?.previous?.equals(Buffer.alloc(32, 1))).toBe(true);
  });

  it.each([
    [{ CATTY_SECRET_KEY: 'too-short' }, /CATTY_SECRET_KEY must be the base64 of 32 random bytes/],
    [{ CATTY_SECRET_KEY: Buffer.alloc(31).toString('base64') }, /CATTY_SECRET_KEY must be the base64 of 32 random bytes/],
    [{ CATTY_SECRET_KEY: KEY_A, CATTY_SECRET_KEY_FILE: '/x' }, /both CATTY_SECRET_KEY and CATTY_SECRET_KEY_FILE/],
    [{ CATTY_SECRET_KEY_PREVIOUS: KEY_A }, /CATTY_SECRET_KEY_PREVIOUS is set without CATTY_SECRET_KEY/],
    [{ CATTY_SECRET_KEY: KEY_A, CATTY_SECRET_KEY_PREVIOUS: KEY_A }, /is the same key as CATTY_SECRET_KEY/],
    [{ CATTY_SECRET_KEY_FILE: '/nonexistent/key' }, /cannot read CATTY_SECRET_KEY_FILE \(\/nonexistent\/key\)/],
  ])('refuses %o', (env, message) => {
    expect(refusal(env)).toMatch(message);
  });

  it('never prints the key: JSON and inspect show [redacted]', () => {
    const c = loadConfig({}, SHARED);
    const raw = Buffer.alloc(32, 1);
    for (const text of [JSON.stringify(c), inspect(c, { depth: 10 })]) {
      expect(text).toContain('[redacted]');
      expect(text).not.toContain(KEY_A);
      expect(text).not.toContain(raw.toString('hex'));
      expect(text).not.toMatch(/1, 1, 1, 1/);
    }
  });
});

describe('where the key goes', () => {
  /** Every source file of the three programs (the seam, the runtime and the CLI included). */
  function sources(dir: string): string[] {
    return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
      const full = path.join(dir, e.name);
      return e.isDirectory() ? sources(full) : e.name.endsWith('.ts') ? [full] : [];
    });
  }

  it('only configuration and sealing read it: nothing that builds a machine, a node or an outgoing request', () => {
    const readers = ['api', 'session-runtime', 'cli']
      .flatMap((d) => sources(path.join(REPO_ROOT, d)))
      // Code, not comments (a comment may say where the key is checked).
      .filter((f) => /sealingKeys|CATTY_SECRET_KEY/.test(fs.readFileSync(f, 'utf8').replace(/^\s*(\/\/|\*|\/\*\*).*$/gm, '')))
      .map((f) => path.relative(REPO_ROOT, f))
      .sort();
    expect(readers).toEqual(['api/config.ts', 'api/crypto.ts', 'api/shared-mode.ts', 'api/state/key-canary.ts']);
  });
});

