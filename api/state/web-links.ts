/** One-time sign-in links for the browser (`catty open`): only the code's hash is stored, and a
 * code is taken once, by one conditional update (two replicas racing: one wins). */
import type { Db } from './db.js';
import type { WebLinkRow } from './schema.js';
export type { WebLinkRow } from './schema.js';

export async function insertWebLink(db: Db, row: Omit<WebLinkRow, 'used'>): Promise<void> {
  await db.k.insertInto('web_links').values({ ...row, used: 0 }).execute();
}

/** Marks the live, unused link with this hash used and returns it; undefined when there is none
 * (unknown, expired, or already taken). */
export async function takeWebLink(db: Db, hash: string, nowIso: string): Promise<WebLinkRow | undefined> {
  // The transaction's own Db (tx): SQLite's one connection is held by it, so a query on `db`
  // would wait for it forever.
  return db.transaction(async (tx) => {
    const taken = await tx.k.updateTable('web_links').set({ used: 1 }).where('hash', '=', hash).where('used', '=', 0).where('expires_at', '>', nowIso).executeTakeFirst();
    if (Number(taken.numUpdatedRows) !== 1) return undefined;
    return tx.k.selectFrom('web_links').selectAll().where('hash', '=', hash).executeTakeFirst();
  });
}
