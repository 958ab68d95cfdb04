import fs from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { SecretStore } from '../../cli/secrets/store.js';
import { fileKeySource, preferredKeySource, type KeySource } from '../../cli/secrets/key.js';
import { runCli, tempDir } from '../helpers/cli.js';

function storeIn(dir: string, salt = 'machine-A'): SecretStore {
  return new SecretStore({ file: path.join(dir, 'secrets.json'), keySource: fileKeySource(path.join(dir, 'secret.key')), salt: () => salt });
}

type SealedFile = { version: 1; secrets: Record<string, { nonce: string; ciphertext: string; tag: string }> };
const readFile = (dir: string) => JSON.parse(fs.readFileSync(path.join(dir, 'secrets.json'), 'utf8')) as SealedFile;

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

  it('uses a fresh nonce for every encryption', () => {
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

  it('refuses a file with one byte flipped, using none of the secrets', () => {
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

  it('refuses swapped ciphertexts (the name is associated data)', () => {
    const dir = tempDir('sec');
    storeIn(dir).set('A', 'alpha-value');
    storeIn(dir).set('B', 'beta-value');
    const file = readFile(dir);
    [file.secrets.A, file.secrets.B] = [file.secrets.B!, file.secrets.A!];
    fs.writeFileSync(path.join(dir, 'secrets.json'), JSON.stringify(file));
    expect(() => storeIn(dir).all()).toThrow(/does not decrypt/);
  });

  it('fails clearly when the files are copied to another machine', () => {
    const dir = tempDir('sec');
    storeIn(dir, 'machine-A').set('A', 'alpha-value');
    const other = tempDir('sec');
    for (const f of ['secrets.json', 'secret.key']) fs.copyFileSync(path.join(dir, f), path.join(other, f));
    expect(() => storeIn(other, 'machine-B').all()).toThrow(/encrypted on another machine/);
    expect(storeIn(other, 'machine-A').all()).toEqual({ A: 'alpha-value' });
  });

  it('fails clearly when the key is missing', () => {
    const dir = tempDir('sec');
    storeIn(dir).set('A', 'alpha-value');
    fs.rmSync(path.join(dir, 'secret.key'));
    expect(() => storeIn(dir).all()).toThrow(/key is missing/);
  });

  it.each(['lower', '1ABC', 'HAS SPACE', 'A=B', 'PATH', 'HOME', 'CATTY_TOKEN', 'IS_SANDBOX', ''])('refuses the name %j', (name) => {
    expect(() => storeIn(tempDir('sec')).set(name, 'v')).toThrow(/Secret name/);
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

  it('exits 2 for a reserved name', async () => {
    const result = await runCli(['secrets', 'set', 'CATTY_X', 'v'], { home: tempDir('sec') });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('reserved');
  });
});
