/**
 * The at-rest key (api/crypto.ts): the configured key (CATTY_SECRET_KEY) is used instead of the
 * data directory's; during a rotation values sealed under the previous key still open, new ones
 * are sealed under the new key only; a value sealed under neither is refused.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decrypt, decryptWith, encrypt, previousKeyOf, sealingKey } from '../../api/crypto.js';
import { tempDir } from '../helpers/temp-dir.js';

describe('the sealing key', () => {
  it('is the data directory secret.key without a configured key, the configured one with it (no file made)', () => {
    const dir = tempDir('key');
    const own = sealingKey({ dataDir: dir, sealingKeys: null });
    expect(own.equals(Buffer.from(fs.readFileSync(path.join(dir, 'secret.key'), 'utf8'), 'base64'))).toBe(true);
    const other = tempDir('key2');
    const current = randomBytes(32);
    expect(sealingKey({ dataDir: other, sealingKeys: { current, previous: null } })).toBe(current);
    expect(fs.existsSync(path.join(other, 'secret.key'))).toBe(false);
  });

  it('opens values sealed under the previous key during a rotation, seals under the new one', () => {
    const old = randomBytes(32);
    const sealedBefore = encrypt(old, 'cat_ct_before', 'connect:1');
    const key = sealingKey({ dataDir: tempDir('key'), sealingKeys: { current: randomBytes(32), previous: old } });
    expect(previousKeyOf(key)).toBe(old);
    expect(decrypt(key, sealedBefore, 'connect:1')).toBe('cat_ct_before');
    const sealedNow = encrypt(key, 'cat_ct_now', 'connect:2');
    expect(decryptWith(key, sealedNow, 'connect:2')).toBe('cat_ct_now');
    expect(() => decryptWith(old, sealedNow, 'connect:2')).toThrow();
    // The row binding still holds under the previous key.
    expect(() => decrypt(key, sealedBefore, 'connect:2')).toThrow();
    // Neither key: refused.
    expect(() => decrypt(key, encrypt(randomBytes(32), 'x', 'connect:3'), 'connect:3')).toThrow();
    // Without a rotation configured, the old key's values do not open.
    const alone = sealingKey({ dataDir: tempDir('key'), sealingKeys: { current: Buffer.from(key), previous: null } });
    expect(() => decrypt(alone, sealedBefore, 'connect:1')).toThrow();
  });
});
