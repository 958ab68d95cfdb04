/** Rows nobody can use any more, removed by the sweeper (api/services/sweeper.ts). */
import type { Db } from './db.js';

/** Device codes, browser sign-ins and their one-time links, share links, user tokens and throttle windows that ended before `cutoffIso`
 * (machine tokens go with their session's end). ISO text compares byte-wise: migrations.ts. */
export async function purgeExpiredRows(db: Db, cutoffIso: string): Promise<void> {
  await db.k.deleteFrom('device_codes').where('expires_at', '<', cutoffIso).execute();
  await db.k.deleteFrom('web_sessions').where('expires_at', '<', cutoffIso).execute();
  // One-time links: used ones at once (nothing can use them again), the rest once expired.
  await db.k.deleteFrom('web_links').where((eb) => eb.or([eb('expires_at', '<', cutoffIso), eb('used', '=', 1)])).execute();
  await db.k.deleteFrom('share_links').where((eb) => eb.or([eb('expires_at', '<', cutoffIso), eb('revoked_at', '<', cutoffIso)])).execute();
  await db.k.deleteFrom('tokens').where('kind', 'in', ['access', 'refresh']).where('expires_at', '<', cutoffIso).execute();
  // The sign-in throttle's counters whose window passed (a passed window counts as none: takeAttempt).
  await db.k.deleteFrom('login_throttle').where('window_ends_at', '<', cutoffIso).execute();
}
