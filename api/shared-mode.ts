/**
 * Shared mode (`CATTY_MODE=shared`): several catty-api replicas behind one load balancer, on one
 * Postgres. What each replica must share with the others is checked here, at configuration time,
 * so a replica that would split the state (its own SQLite, its own embedded S3, machines only it
 * reaches, tokens only its key opens) refuses to start, saying what to set. Also the sealing
 * key's settings (CATTY_SECRET_KEY and the previous key of a rotation), read in every mode.
 */
import { readFileSync } from 'node:fs';
import { inspect } from 'node:util';
import { EXIT_USAGE, UserError } from '../session-runtime/wire/errors.js';
import { usageError } from './errors.js';

/** The at-rest key and, during a rotation, the one it replaces. Never printed. */
export class SealingKeys {
  constructor(
    readonly current: Buffer,
    readonly previous: Buffer | null,
  ) {}
  toJSON(): string {
    return '[redacted]';
  }
  [inspect.custom](): string {
    return 'SealingKeys [redacted]';
  }
}

type Env = Record<string, string | undefined>;

export const KEY_HINT = 'Make one with `openssl rand -base64 32` and give every replica the same one.';

/** Standard or URL-safe base64 of exactly 32 bytes. */
function parseKey(text: string, from: string): Buffer {
  const trimmed = text.trim();
  if (!/^[A-Za-z0-9+/_-]{43}=?$/.test(trimmed)) throw usageError(`${from} must be the base64 of 32 random bytes`, KEY_HINT);
  return Buffer.from(trimmed.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
}

/** `name` (the key itself) or `name_FILE` / the config file's entry (a file holding it). */
function readKey(env: Env, name: string, fileEntry: string | undefined): Buffer | null {
  const direct = env[name] || undefined;
  const path = env[`${name}_FILE`] || fileEntry;
  if (direct && path) throw usageError(`both ${name} and ${name}_FILE (or the config file's key file) are set`, 'Set one of them.');
  if (direct) return parseKey(direct, name);
  if (!path) return null;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw usageError(`cannot read ${name}_FILE (${path}): ${(err as Error).message}`);
  }
  return parseKey(text, `${name}_FILE (${path})`);
}

export function readSealingKeys(env: Env, file: { secretKeyFile?: string; secretKeyPreviousFile?: string }): SealingKeys | null {
  const current = readKey(env, 'CATTY_SECRET_KEY', file.secretKeyFile);
  const previous = readKey(env, 'CATTY_SECRET_KEY_PREVIOUS', file.secretKeyPreviousFile);
  if (previous && !current) throw usageError('CATTY_SECRET_KEY_PREVIOUS is set without CATTY_SECRET_KEY', 'A rotation needs the new key in CATTY_SECRET_KEY and the old one in CATTY_SECRET_KEY_PREVIOUS.');
  if (current && previous?.equals(current)) throw usageError('CATTY_SECRET_KEY_PREVIOUS is the same key as CATTY_SECRET_KEY', 'Unset CATTY_SECRET_KEY_PREVIOUS once every replica has the new key.');
  return current ? new SealingKeys(current, previous) : null;
}

export interface SharedModeInputs {
  databaseUrl: string | null;
  sealingKeys: SealingKeys | null;
  s3Endpoint: string | null;
  publicUrl: string | null;
  provisioner: string;
}

/** One line per missing piece, each saying what to set; none: the replica may start. */
export function sharedModeGaps(c: SharedModeInputs): string[] {
  const gaps: string[] = [];
  if (!c.databaseUrl || !/^postgres(ql)?:\/\//i.test(c.databaseUrl)) {
    gaps.push('the state must be shared: set CATTY_DATABASE_URL=postgres://user:password@host:port/database (SQLite is one replica\'s file)');
  }
  if (!c.sealingKeys) {
    gaps.push(`every replica must open what the others sealed: set CATTY_SECRET_KEY (or CATTY_SECRET_KEY_FILE) to the same key on each. ${KEY_HINT}`);
  }
  if (!c.s3Endpoint) {
    gaps.push('the embedded S3 store is per replica: set CATTY_S3_ENDPOINT (and CATTY_S3_ACCESS_KEY_ID, CATTY_S3_SECRET_ACCESS_KEY) to a store every replica reaches, e.g. `catty-api s3-server`');
  }
  if (!c.publicUrl) {
    gaps.push("laptops and machines must reach any replica: set CATTY_PUBLIC_URL to the load balancer's URL (machines call back to it too, unless CATTY_MACHINE_API_URL names another address of it)");
  }
  if (c.provisioner === 'local') {
    gaps.push(
      'local machines are reached only by the replica that started them: set CATTY_PROVISIONER=swarm, or docker when every replica runs on the Docker engine\'s host sharing CATTY_DOCKER_RUN_DIR and the data directory',
    );
  }
  return gaps;
}

/** The refusal of a shared-mode configuration that lacks something, or null. */
export function sharedModeRefusal(c: SharedModeInputs): UserError | null {
  const gaps = sharedModeGaps(c);
  if (gaps.length === 0) return null;
  if (gaps.length === 1) return usageError(`CATTY_MODE=shared: ${gaps[0]}`);
  return new UserError(`CATTY_MODE=shared needs ${gaps.length} more settings:`, { details: gaps.map((g) => `- ${g}`), exitCode: EXIT_USAGE });
}
