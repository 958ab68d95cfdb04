/**
 * The sign-in throttle's counters (api/auth/throttle.ts), in the database so that every API
 * replica on it counts the same attempts. One row per key (an account's or a client address's
 * hash): attempts taken in the window, and when the window ends. Rows are removed only once
 * their window has passed: nothing evicts a live one.
 */
import type { ExpressionBuilder } from 'kysely';
import type { Db } from './db.js';
import type { Schema } from './schema.js';
import type { ThrottleRow } from './schema.js';
export type { ThrottleRow } from './schema.js';

export async function throttleRow(db: Db, key: string): Promise<ThrottleRow | undefined> {
  return db.k.selectFrom('login_throttle').select(['key', 'attempts', 'window_ends_at']).where('key', '=', key).executeTakeFirst();
}

/**
 * Takes one attempt on `key` unless it has `limit` already in a window that has not passed (at
 * `nowIso`); a passed window starts again at 1, ending at `windowEndsAt`. One statement — an
 * upsert whose update is conditional — so attempts taken at once, on any number of connections,
 * never pass the limit (Postgres re-checks the condition on the row once a concurrent writer
 * commits; SQLite has one writer). True when the attempt was taken.
 */
export async function takeAttempt(db: Db, key: string, limit: number, nowIso: string, windowEndsAt: string): Promise<boolean> {
  const passed = (eb: ExpressionBuilder<Schema, 'login_throttle'>) => eb('login_throttle.window_ends_at', '<=', nowIso);
  const taken = await db.k
    .insertInto('login_throttle')
    .values({ key, attempts: 1, window_ends_at: windowEndsAt })
    .onConflict((oc) =>
      oc
        .column('key')
        .doUpdateSet((eb) => ({
          attempts: eb.case().when(passed(eb)).then(1).else(eb('login_throttle.attempts', '+', 1)).end(),
          window_ends_at: eb.case().when(passed(eb)).then(windowEndsAt).else(eb.ref('login_throttle.window_ends_at')).end(),
        }))
        .where((eb) => eb.or([passed(eb), eb('login_throttle.attempts', '<', limit)])),
    )
    .returning('attempts')
    .executeTakeFirst();
  return taken !== undefined;
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
