/**
 * The key canary: one row holding a known value sealed under the shared at-rest key. Replicas
 * seal connect tokens that other replicas must open, so a replica started with another key would
 * hand out garbage (or fail every connect) only once a user tried: instead it refuses to start.
 * The first replica with a configured key writes the row; each one after opens it. During a
 * rotation (CATTY_SECRET_KEY new, CATTY_SECRET_KEY_PREVIOUS old) a canary sealed under the old
 * key is accepted and sealed again under the new one, and so is every connect token still
 * sealed under the old key, so the old key can be dropped once every replica runs with the new.
 */
import { UserError } from '../../session-runtime/wire/errors.js';
import { decryptWith, encrypt, sealingKey } from '../crypto.js';
import type { Logger } from '../logger.js';
import type { Db } from './db.js';

export interface KeyCanaryRow {
  id: string;
  sealed: string;
  updated_at: string;
}

type CanaryTables = { key_canary: KeyCanaryRow };

const ID = 'canary';
const AAD = 'key-canary';
const VALUE = 'catty key canary v1';

export const WRONG_KEY_MESSAGE = "this replica's key does not open what the others sealed";

function opens(key: Buffer, sealed: string, aad: string): string | null {
  try {
    return decryptWith(key, sealed, aad);
  } catch {
    return null;
  }
}

export interface CanaryResult {
  /** written: this replica was the first; opened: the current key; rotated: the previous key opened it and the new one sealed it again. */
  outcome: 'written' | 'opened' | 'rotated';
  /** Connect tokens sealed again under the current key (a rotation). */
  resealed: number;
}

/** Checks (or writes) the canary; throws a UserError naming CATTY_SECRET_KEY when the key is wrong. */
export async function checkKeyCanary(db: Db, keys: { current: Buffer; previous: Buffer | null }, nowMs: number, logger: Logger): Promise<CanaryResult> {
  const k = db.k.withTables<CanaryTables>();
  const at = new Date(nowMs).toISOString();
  await k
    .insertInto('key_canary')
    .values({ id: ID, sealed: encrypt(keys.current, VALUE, AAD), updated_at: at })
    .onConflict((oc) => oc.column('id').doNothing())
    .execute();
  const row = await k.selectFrom('key_canary').select(['sealed', 'updated_at']).where('id', '=', ID).executeTakeFirstOrThrow();
  let outcome: CanaryResult['outcome'] = row.updated_at === at ? 'written' : 'opened';
  if (opens(keys.current, row.sealed, AAD) !== VALUE) {
    if (!keys.previous || opens(keys.previous, row.sealed, AAD) !== VALUE) {
      throw new UserError(`${WRONG_KEY_MESSAGE}: CATTY_SECRET_KEY is not the key the other replicas use`, {
        hint: 'Give this replica the same CATTY_SECRET_KEY (or CATTY_SECRET_KEY_FILE) as the others; while rotating to a new key, set the old one as CATTY_SECRET_KEY_PREVIOUS.',
      });
    }
    // Sealed again only if no other replica did meanwhile (either way it now opens with ours).
    await k.updateTable('key_canary').set({ sealed: encrypt(keys.current, VALUE, AAD), updated_at: at }).where('id', '=', ID).where('sealed', '=', row.sealed).execute();
    outcome = 'rotated';
  }
  const resealed = keys.previous ? await resealConnectTokens(db, keys.current, keys.previous) : 0;
  if (outcome === 'rotated' || resealed > 0) logger.info({ resealed }, 'sealed again under the new CATTY_SECRET_KEY: the previous key can go once every replica runs with the new one');
  return { outcome, resealed };
}

/** Each connect token sealed under the previous key, sealed under the current one (conditional:
 * a token changed meanwhile, by a resume or another replica, is left as it is). */
async function resealConnectTokens(db: Db, current: Buffer, previous: Buffer): Promise<number> {
  const rows = await db.k.selectFrom('sessions').select(['id', 'connect_token_enc']).where('connect_token_enc', 'is not', null).execute();
  let count = 0;
  for (const row of rows) {
    const sealed = row.connect_token_enc!;
    const aad = `connect:${row.id}`;
    if (opens(current, sealed, aad) !== null) continue;
    const token = opens(previous, sealed, aad);
    if (token === null) continue;
    const result = await db.k.updateTable('sessions').set({ connect_token_enc: encrypt(current, token, aad) }).where('id', '=', row.id).where('connect_token_enc', '=', sealed).executeTakeFirst();
    if (result.numUpdatedRows > 0n) count++;
  }
  return count;
}

/**
 * The key connect tokens are sealed with, at start: the configured one (CATTY_SECRET_KEY),
 * checked against the canary (a UserError when it does not open it), or the data directory's own.
 */
export async function openSealingKey(config: { dataDir: string; sealingKeys: { current: Buffer; previous: Buffer | null } | null }, db: Db, logger: Logger, nowMs = Date.now()): Promise<Buffer> {
  const key = sealingKey(config);
  if (config.sealingKeys) await checkKeyCanary(db, config.sealingKeys, nowMs, logger);
  return key;
}
