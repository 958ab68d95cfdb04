/** Rows nobody can use any more, removed by the sweeper (api/services/sweeper.ts). */
import type { Db } from './db.js';

/** Device codes, browser sign-ins and user tokens that expired before `cutoffIso` (machine tokens
 * go with their session's end). ISO text compares byte-wise: migrations.ts. */
export async function purgeExpiredRows(db: Db, cutoffIso: string): Promise<void> {
  await db.k.deleteFrom('device_codes').where('expires_at', '<', cutoffIso).execute();
  await db.k.deleteFrom('web_sessions').where('expires_at', '<', cutoffIso).execute();
  await db.k.deleteFrom('tokens').where('kind', 'in', ['access', 'refresh']).where('expires_at', '<', cutoffIso).execute();
}
