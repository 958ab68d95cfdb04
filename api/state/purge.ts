/** Rows nobody can use any more, removed by the sweeper (api/services/sweeper.ts). */
import type { Db } from './db.js';

/** Device codes, browser sign-ins, user tokens and throttle windows that ended before `cutoffIso`
 * (machine tokens go with their session's end). ISO text compares byte-wise: migrations.ts. */
export async function purgeExpiredRows(db: Db, cutoffIso: string): Promise<void> {
  await db.k.deleteFrom('device_codes').where('expires_at', '<', cutoffIso).execute();
  await db.k.deleteFrom('web_sessions').where('expires_at', '<', cutoffIso).execute();
  await db.k.deleteFrom('web_links').where('expires_at', '<', cutoffIso).execute();
  await db.k.deleteFrom('share_links').where('expires_at', '<', cutoffIso).execute();
  await db.k.deleteFrom('tokens').where('kind', 'in', ['access', 'refresh']).where('expires_at', '<', cutoffIso).execute();
  // The sign-in throttle's counters whose window passed (a passed window counts as none: takeAttempt).
  await db.k.deleteFrom('login_throttle').where('window_ends_at', '<', cutoffIso).execute();
}
