/** Browser sign-ins for the /device page (cookie holds the token; only its hash is stored). */
import type { Db } from './db.js';
import type { WebSessionRow } from './schema.js';
export type { WebSessionRow } from './schema.js';

export async function insertWebSession(db: Db, row: WebSessionRow): Promise<void> {
  await db.k.insertInto('web_sessions').values(row).execute();
}

export async function liveWebSession(db: Db, hash: string, nowIso: string): Promise<WebSessionRow | undefined> {
  return db.k.selectFrom('web_sessions').selectAll().where('hash', '=', hash).where('expires_at', '>', nowIso).executeTakeFirst();
}

/** Ends one browser sign-in (its cookie's token hash); false when there was none. */
export async function deleteWebSession(db: Db, hash: string): Promise<boolean> {
  const result = await db.k.deleteFrom('web_sessions').where('hash', '=', hash).executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}
