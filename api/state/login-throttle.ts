/**
 * The sign-in throttle's counters (api/auth/throttle.ts), in the database so that every API
 * replica on it counts the same attempts. One row per key (an account's or a client address's
 * hash): attempts taken in the window, and when the window ends. Rows are removed only once
 * their window has passed: nothing evicts a live one.
 */
import { sql } from 'kysely';
import type { Db } from './db.js';
import type { ThrottleRow } from './schema.js';
export type { ThrottleRow } from './schema.js';

export async function throttleRow(db: Db, key: string): Promise<ThrottleRow | undefined> {
  return db.k.selectFrom('login_throttle').select(['key', 'attempts', 'window_ends_at']).where('key', '=', key).executeTakeFirst();
}

/** One more attempt on `key`: a new window ending at `windowEndsAt` when it has none. */
export async function countAttempt(db: Db, key: string, windowEndsAt: string): Promise<void> {
  await db.k
    .insertInto('login_throttle')
    .values({ key, attempts: 1, window_ends_at: windowEndsAt })
    .onConflict((oc) => oc.column('key').doUpdateSet((eb) => ({ attempts: eb('login_throttle.attempts', '+', 1) })))
    .execute();
}

/** Gives one attempt on `key` back. */
export async function uncountAttempt(db: Db, key: string): Promise<void> {
  await db.k
    .updateTable('login_throttle')
    .set((eb) => ({ attempts: eb('attempts', '-', 1) }))
    .where('key', '=', key)
    .where('attempts', '>', 0)
    .execute();
}

export async function clearAttempts(db: Db, key: string): Promise<void> {
  await db.k.deleteFrom('login_throttle').where('key', '=', key).execute();
}

/** Removes the rows whose window has passed (ISO text compared byte-wise: migrations.ts). */
export async function purgeThrottle(db: Db, nowIso: string): Promise<void> {
  await db.k.deleteFrom('login_throttle').where('window_ends_at', '<=', nowIso).execute();
}

/**
 * Inside a transaction: waits until no other transaction holds these keys, until this one ends.
 * Postgres: transaction-level advisory locks (in one order: no deadlock between two callers), as
 * a row lock cannot cover a row that does not exist yet; SQLite: nothing to do, its write
 * transaction (BEGIN IMMEDIATE) already excludes every other writer.
 */
export async function lockThrottleKeys(db: Db, keys: readonly string[]): Promise<void> {
  if (db.dialect !== 'postgres') return;
  for (const key of [...keys].sort()) await sql`SELECT pg_advisory_xact_lock(hashtextextended(${key}, 0))`.execute(db.k);
}
