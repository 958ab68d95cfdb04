import fs from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { SecretStore } from '../../cli/secrets/store.js';
import { fileKeySource, preferredKeySource, type KeySource } from '../../cli/secrets/key.js';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp-dir.js';

function storeIn(dir: string, salt = 'machine-A'): SecretStore {
  return new SecretStore({ file: path.join(dir, 'secrets.json'), keySource: fileKeySource(path.join(dir, 'secret.key')), salt: () => salt });
}

describe('secrets store', () => {
  it('round-trips, with 0600 files and no plaintext on disk', () => {
    const dir = tempDir('sec');
    const store = storeIn(dir);
    store.set('API_TOKEN', 'sk-very-secret-value');
    store.set('OTHER', 'second-value');
    expect(storeIn(dir).all()).toEqual({ API_TOKEN: 'sk-very-secret-value', OTHER: 'second-value' });
    expect(store.names()).toEqual(['API_TOKEN', 'OTHER']);
    for (const f of ['secrets.json', 'secret.key']) expect(fs.statSync(path.join(dir, f)).mode & 0o777).toBe(0o600);
    const raw = fs.readFileSync(path.join(dir, 'secrets.json'), 'utf8');
    expect(raw).not.toContain('sk-very-secret-value');
    expect(raw).not.toContain(Buffer.from('sk-very-secret-value').toString('base64'));
  });

});

describe('key placement', () => {
  const keychain = (writable: boolean): KeySource & { stored: Buffer | null } => {
    const k = {
      kind: 'keychain' as const,
      stored: null as Buffer | null,
      load: () => k.stored,
      store: (key: Buffer) => {
        if (!writable) throw new Error('Couldn\'t access platform storage: AccessDenied');
        k.stored = key;
      },
    };
    return k;
  };

  it('keeps the key in a working keychain and writes no key file', () => {
    const dir = tempDir('sec');
    const chain = keychain(true);
    const source = preferredKeySource(chain, fileKeySource(path.join(dir, 'secret.key')));
    const store = new SecretStore({ file: path.join(dir, 'secrets.json'), keySource: source, salt: () => 'm' });
    store.set('A', 'alpha');
    expect(chain.stored).toHaveLength(32);
    expect(fs.existsSync(path.join(dir, 'secret.key'))).toBe(false);
    expect(store.all()).toEqual({ A: 'alpha' });
  });

  it('falls back to a 0600 key file when the keychain refuses writes (headless Linux)', () => {
    const dir = tempDir('sec');
    const source = preferredKeySource(keychain(false), fileKeySource(path.join(dir, 'secret.key')));
    const store = new SecretStore({ file: path.join(dir, 'secrets.json'), keySource: source, salt: () => 'm' });
    store.set('A', 'alpha');
    expect(fs.statSync(path.join(dir, 'secret.key')).mode & 0o777).toBe(0o600);
    expect(store.all()).toEqual({ A: 'alpha' });
  });
});

describe('catty secrets commands', () => {
  it('sets from an argument and from stdin, lists names only, removes', async () => {
    const home = tempDir('sec');
    expect((await runCli(['secrets', 'set', 'FIRST', 'value-one'], { home })).code).toBe(0);
    const stdin = new PassThrough();
    stdin.end('value-two\n');
    expect((await runCli(['secrets', 'set', 'SECOND'], { home, stdin })).code).toBe(0);
    const list = await runCli(['secrets', 'list'], { home });
    expect(list.stdout.split('\n').filter(Boolean)).toEqual(['FIRST', 'SECOND']);
    expect(list.stdout + list.stderr).not.toContain('value-');
    expect(fs.statSync(path.join(home, 'secrets.json')).mode & 0o777).toBe(0o600);
    expect((await runCli(['secrets', 'rm', 'FIRST'], { home })).code).toBe(0);
    expect((await runCli(['secrets', 'list'], { home })).stdout.trim()).toBe('SECOND');
    expect((await runCli(['secrets', 'rm', 'FIRST'], { home })).code).toBe(1);
  });

});
