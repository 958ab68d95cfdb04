/**
 * The secrets key: 32 random bytes kept in the OS keychain (@napi-rs/keyring) when one works,
 * else in $CATTY_HOME/secret.key (0600). Either way the key actually used is
 * HKDF-SHA256(stored bytes, salt = this machine's id, info 'catty secrets v1'), so a copied
 * $CATTY_HOME does not decrypt on another machine.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import { createRequire } from 'node:module';
import { writePrivateFileAtomic } from '../fs-util.js';

const KEY_BYTES = 32;
const HKDF_INFO = 'catty secrets v1';
const KEYRING_SERVICE = 'catty';

/** Where the stored key bytes live. */
export interface KeySource {
  readonly kind: 'keychain' | 'file';
  /** The stored bytes, or null when none exist yet. */
  load(): Buffer | null;
  store(key: Buffer): void;
}

export function fileKeySource(file: string): KeySource {
  return {
    kind: 'file',
    load() {
      try {
        const text = fs.readFileSync(file, 'utf8').trim();
        const key = Buffer.from(text, 'base64');
        return key.length === KEY_BYTES ? key : null;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw error;
      }
    },
    store(key) {
      writePrivateFileAtomic(file, key.toString('base64') + '\n');
    },
  };
}

interface KeyringEntry {
  getPassword(): string | null | undefined;
  setPassword(password: string): void;
}

/** The keychain, when it works here (it does not on a headless Linux box without a secret service). */
export function keychainKeySource(account: string): KeySource | null {
  try {
    const require = createRequire(import.meta.url);
    const { Entry } = require('@napi-rs/keyring') as { Entry: new (service: string, account: string) => KeyringEntry };
    const entry = new Entry(KEYRING_SERVICE, account);
    // Probe: reading must work (null = nothing stored yet) before we trust it with the key.
    entry.getPassword();
    return {
      kind: 'keychain',
      load() {
        const text = entry.getPassword();
        if (!text) return null;
        const key = Buffer.from(text, 'base64');
        return key.length === KEY_BYTES ? key : null;
      },
      store(key) {
        entry.setPassword(key.toString('base64'));
      },
    };
  } catch {
    return null;
  }
}

/**
 * The keychain when it accepts the key (probed by writing it and reading it back), else the
 * file. On a headless Linux box reads "work" (nothing stored) while writes are denied, so a
 * read-only probe is not enough.
 */
export function preferredKeySource(keychain: KeySource | null, file: KeySource): KeySource {
  if (!keychain) return file;
  return {
    get kind() {
      return file.load() ? 'file' : 'keychain';
    },
    load() {
      let fromKeychain: Buffer | null = null;
      try {
        fromKeychain = keychain.load();
      } catch {
        fromKeychain = null;
      }
      return fromKeychain ?? file.load();
    },
    store(key) {
      try {
        keychain.store(key);
        if (keychain.load()?.equals(key)) return;
      } catch {
        // denied or unavailable: fall back to the file
      }
      file.store(key);
    },
  } as KeySource;
}

/** This machine's id: /etc/machine-id, else the host name. */
export function machineIdSalt(): string {
  for (const file of ['/etc/machine-id', '/var/lib/dbus/machine-id']) {
    try {
      const id = fs.readFileSync(file, 'utf8').trim();
      if (id) return id;
    } catch {
      // try the next
    }
  }
  return os.hostname();
}

export function deriveKey(stored: Buffer, salt: string): Buffer {
  return Buffer.from(crypto.hkdfSync('sha256', stored, Buffer.from(salt, 'utf8'), Buffer.from(HKDF_INFO, 'utf8'), KEY_BYTES));
}

/** Loads (or, when `create`, makes) the stored key; null when there is none and !create. */
export function loadOrCreateKey(source: KeySource, create: boolean): Buffer | null {
  const existing = source.load();
  if (existing || !create) return existing;
  const fresh = crypto.randomBytes(KEY_BYTES);
  source.store(fresh);
  return fresh;
}
