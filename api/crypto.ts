/**
 * Tokens, hashes and the API's own at-rest key. Tokens are 32 random bytes (base64url) with a
 * readable prefix; only their sha256 is stored. Connect tokens must be handed out again, so they
 * are stored encrypted with AES-256-GCM under a key kept in the data dir (0600), or, when
 * configured (CATTY_SECRET_KEY, required in shared mode: replicas open each other's rows), that
 * one, with the key it replaces accepted while a rotation runs.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync, renameSync, chmodSync } from 'node:fs';
import { join } from 'node:path';

export type TokenPrefix = 'cat_at' | 'cat_rt' | 'cat_mt' | 'cat_ct' | 'cat_dc';

export function newToken(prefix: TokenPrefix): string {
  return `${prefix}_${randomBytes(32).toString('base64url')}`;
}

export function sha256Hex(value: string | Buffer): string {
  return createHash('sha256').update(value).digest('hex');
}

export function newId(): string {
  return randomBytes(12).toString('hex');
}

export function constantTimeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}

/** Loads (or creates, 0600, atomically) the 32-byte at-rest key in `<dataDir>/secret.key`. */
export function loadOrCreateKey(dataDir: string): Buffer {
  const path = join(dataDir, 'secret.key');
  if (!existsSync(path)) {
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, randomBytes(32).toString('base64'), { mode: 0o600 });
    renameSync(tmp, path);
  }
  chmodSync(path, 0o600);
  const key = Buffer.from(readFileSync(path, 'utf8').trim(), 'base64');
  if (key.length !== 32) throw new Error(`${path} does not hold a 32-byte key`);
  return key;
}

/**
 * The previous key of a rotation, looked up by the current key's Buffer: `decrypt` falls back to
 * it without every caller (and `Deps.key`) having to carry a pair. Set once at start.
 */
const previousKeys = new WeakMap<Buffer, Buffer>();

/** The key to seal with: the configured one (its predecessor accepted by `decrypt`), or the
 * data directory's own. */
export function sealingKey(config: { dataDir: string; sealingKeys: { current: Buffer; previous: Buffer | null } | null }): Buffer {
  if (!config.sealingKeys) return loadOrCreateKey(config.dataDir);
  const { current, previous } = config.sealingKeys;
  if (previous) previousKeys.set(current, previous);
  return current;
}

/** The rotation's previous key of `key`, if one was configured. */
export function previousKeyOf(key: Buffer): Buffer | null {
  return previousKeys.get(key) ?? null;
}

/** `v1.<iv>.<tag>.<ciphertext>` (base64url); `aad` binds the value to its row. */
export function encrypt(key: Buffer, plaintext: string, aad: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(aad));
  const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return ['v1', iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), ct.toString('base64url')].join('.');
}

/** Opens `sealed` with `key`, or with the key it replaces during a rotation. */
export function decrypt(key: Buffer, sealed: string, aad: string): string {
  const previous = previousKeys.get(key);
  if (!previous) return decryptWith(key, sealed, aad);
  try {
    return decryptWith(key, sealed, aad);
  } catch {
    return decryptWith(previous, sealed, aad);
  }
}

/** Opens `sealed` with exactly `key` (throws when another key sealed it). */
export function decryptWith(key: Buffer, sealed: string, aad: string): string {
  const [version, iv, tag, ct] = sealed.split('.');
  if (version !== 'v1' || iv === undefined || tag === undefined || ct === undefined) throw new Error('unknown ciphertext format');
  const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
  decipher.setAAD(Buffer.from(aad));
  decipher.setAuthTag(Buffer.from(tag, 'base64url'));
  return Buffer.concat([decipher.update(Buffer.from(ct, 'base64url')), decipher.final()]).toString('utf8');
}
