/**
 * $CATTY_HOME/secrets.json (0600): {version:1, check, secrets: {NAME: {nonce, ciphertext, tag}},
 * inject?: {NAME: {host, port, header, bearer}}}. `check` is a sealed constant: when it does not
 * open, the key is not the one the file was written with (another machine, or a lost key) — a
 * clearer error than "tampered". `inject` says which secrets the session's egress proxy adds as a
 * header for a host (`catty secrets set NAME --inject HOST`) instead of the agent's environment
 * holding them; it is not secret (no value), so it is kept in the clear.
 */
import * as z from '../../session-runtime/wire/zod.js';
import { secretNameProblem } from '../../api/contract/schemas.js';
import type { Context } from '../context.js';
import { ensureHome, paths } from '../config.js';
import { ExitCode } from '../errors.js';
import { UserError } from '../../session-runtime/wire/errors.js';
import { readJsonFile, writePrivateFileAtomic } from '../fs-util.js';
import { Sealed, open, seal } from './crypto.js';
import { deriveKey, fileKeySource, keychainKeySource, loadOrCreateKey, machineIdSalt, preferredKeySource, type KeySource } from './key.js';

/** How a secret is injected: as `header` on requests to host:port (`Bearer <value>` when `bearer`). */
export const InjectSetting = z.object({
  host: z.string(),
  port: z.int().check(z.gte(1), z.lte(65535)),
  header: z.string(),
  bearer: z.boolean(),
});
export type InjectSetting = z.infer<typeof InjectSetting>;

const SecretsFile = z.object({
  version: z.literal(1),
  check: z.optional(Sealed),
  secrets: z.record(z.string(), Sealed),
  inject: z.optional(z.record(z.string(), InjectSetting)),
});
type SecretsFile = z.infer<typeof SecretsFile>;

const CHECK_AAD = 'catty:key-check';
const CHECK_TEXT = 'catty secrets key check';

export interface SecretStoreOptions {
  file: string;
  keySource: KeySource;
  /** This machine's id (HKDF salt); injectable so tests can play "another machine". */
  salt: () => string;
}

export function defaultSecretStoreOptions(ctx: Context): SecretStoreOptions {
  ensureHome(ctx);
  const keychain = ctx.env.CATTY_KEYRING === 'off' ? null : keychainKeySource(`secrets-key:${ctx.home}`);
  return { file: paths.secrets(ctx.home), keySource: preferredKeySource(keychain, fileKeySource(paths.secretKey(ctx.home))), salt: machineIdSalt };
}

export function validateSecretName(name: string): void {
  const problem = secretNameProblem(name);
  if (problem) throw new UserError(`Secret name "${name}" ${problem}.`, { exitCode: ExitCode.usage });
}

export class SecretStore {
  readonly #options: SecretStoreOptions;

  constructor(options: SecretStoreOptions) {
    this.#options = options;
  }

  names(): string[] {
    return Object.keys(this.#read().secrets).sort();
  }

  /** Sets the secret and how it is used: injected by the egress proxy, or (no `inject`) in the agent's environment. */
  set(name: string, value: string, inject?: InjectSetting): void {
    validateSecretName(name);
    const file = this.#read();
    const key = this.#key(file, true);
    file.check ??= seal(key, CHECK_AAD, CHECK_TEXT);
    file.secrets[name] = seal(key, name, value);
    const rules = { ...file.inject };
    if (inject) rules[name] = inject;
    else delete rules[name];
    file.inject = rules;
    this.#write(file);
  }

  remove(name: string): boolean {
    const file = this.#read();
    if (!(name in file.secrets)) return false;
    delete file.secrets[name];
    if (file.inject) delete file.inject[name];
    this.#write(file);
    return true;
  }

  /** The inject setting of each secret that has one (no value is decrypted). */
  injectSettings(): Record<string, InjectSetting> {
    const file = this.#read();
    return Object.fromEntries(Object.entries(file.inject ?? {}).filter(([name]) => name in file.secrets));
  }

  /** Every secret, decrypted; throws (using none of them) when any fails to decrypt. */
  all(): Record<string, string> {
    const file = this.#read();
    const names = Object.keys(file.secrets);
    if (names.length === 0) return {};
    const key = this.#key(file, false);
    const out: Record<string, string> = {};
    for (const name of names) {
      const value = open(key, name, file.secrets[name] as Sealed);
      if (value === null) {
        throw new UserError(`The secret ${name} does not decrypt: ${this.#options.file} was modified or is corrupt.`, {
          hint: `Set it again with \`catty secrets set ${name}\` (or remove it with \`catty secrets rm ${name}\`).`,
        });
      }
      out[name] = value;
    }
    return out;
  }

  #key(file: SecretsFile, create: boolean): Buffer {
    const hasSecrets = Object.keys(file.secrets).length > 0;
    const stored = loadOrCreateKey(this.#options.keySource, create && !hasSecrets);
    if (!stored) throw anotherMachine(this.#options.file, 'its key is missing');
    const key = deriveKey(stored, this.#options.salt());
    if (file.check && open(key, CHECK_AAD, file.check) !== CHECK_TEXT) throw anotherMachine(this.#options.file, 'it was encrypted on another machine or with another key');
    return key;
  }

  #read(): SecretsFile {
    const raw = readJsonFile(this.#options.file);
    if (raw === null) return { version: 1, secrets: {} };
    const parsed = SecretsFile.safeParse(raw);
    if (!parsed.success) {
      throw new UserError(`${this.#options.file} is not a valid catty secrets file.`, { hint: 'Remove it and set your secrets again.' });
    }
    return parsed.data;
  }

  #write(file: SecretsFile): void {
    writePrivateFileAtomic(this.#options.file, JSON.stringify(file, null, 2) + '\n');
  }
}

function anotherMachine(file: string, why: string): UserError {
  return new UserError(`Cannot decrypt ${file}: ${why}.`, {
    hint: 'Secrets are bound to the machine (and keychain) they were set on. Remove the file and set them again here.',
  });
}
