/** Read-only share links (`catty share`): only the token's hash is stored. A link is live while
 * it is neither expired nor revoked and its session is not deleted. */
import type { Db } from './db.js';
import type { SessionRow, ShareLinkRow } from './schema.js';
export type { ShareLinkRow } from './schema.js';

export async function insertShareLink(db: Db, row: Omit<ShareLinkRow, 'revoked_at'>): Promise<void> {
  await db.k.insertInto('share_links').values({ ...row, revoked_at: null }).execute();
}

/** The live link with this token hash, and its session. */
export async function liveShareLink(db: Db, hash: string, nowIso: string): Promise<{ link: ShareLinkRow; session: SessionRow } | undefined> {
  const link = await db.k.selectFrom('share_links').selectAll().where('hash', '=', hash).where('revoked_at', 'is', null).where('expires_at', '>', nowIso).executeTakeFirst();
  if (!link) return undefined;
  const session = await db.k.selectFrom('sessions').selectAll().where('id', '=', link.session_id).where('deleted', '=', 0).executeTakeFirst();
  return session ? { link, session } : undefined;
}

/** Revokes every live link of a session; returns how many were live. */
export async function revokeShareLinks(db: Db, sessionId: string, nowIso: string): Promise<number> {
  const result = await db.k.updateTable('share_links').set({ revoked_at: nowIso }).where('session_id', '=', sessionId).where('revoked_at', 'is', null).where('expires_at', '>', nowIso).executeTakeFirst();
  return Number(result.numUpdatedRows);
}
