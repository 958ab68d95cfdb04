/** Bearer tokens, stored only as sha256 hashes. */
import type { Db } from './db.js';
import type { TokenKind, TokenRow } from './schema.js';
export type { TokenKind, TokenRow } from './schema.js';

export async function insertToken(db: Db, row: Omit<TokenRow, 'revoked'>): Promise<void> {
  await db.k
    .insertInto('tokens')
    .values({ ...row, revoked: 0 })
    .execute();
}

/** A live token of this kind (not revoked, not expired at `nowIso`; ISO text compares byte-wise). */
export async function liveToken(db: Db, hash: string, kind: TokenKind, nowIso: string): Promise<TokenRow | undefined> {
  return db.k
    .selectFrom('tokens')
    .selectAll()
    .where('hash', '=', hash)
    .where('kind', '=', kind)
    .where('revoked', '=', 0)
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', nowIso)]))
    .executeTakeFirst();
}

export async function revokeToken(db: Db, hash: string): Promise<boolean> {
  const result = await db.k.updateTable('tokens').set({ revoked: 1 }).where('hash', '=', hash).where('revoked', '=', 0).executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

export async function revokeSessionTokens(db: Db, sessionId: string): Promise<void> {
  await db.k.updateTable('tokens').set({ revoked: 1 }).where('session_id', '=', sessionId).execute();
}
