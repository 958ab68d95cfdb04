/** Account rows (and, for an account's removal or sign-out, the rows that refer to it). */
import type { Db } from './db.js';
import type { UserRow } from './schema.js';
export type { UserRow } from './schema.js';

export async function insertUser(db: Db, user: UserRow): Promise<void> {
  await db.k.insertInto('users').values(user).execute();
}

export async function userByEmail(db: Db, email: string): Promise<UserRow | undefined> {
  return db.k.selectFrom('users').selectAll().where('email', '=', email.toLowerCase()).executeTakeFirst();
}

export async function userById(db: Db, id: string): Promise<UserRow | undefined> {
  return db.k.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
}

/** Every account, oldest first, with how many sessions it has (not deleted) and how many of those
 * may still have a machine. */
export async function listUsersWithSessions(db: Db): Promise<Array<UserRow & { sessions: number; live: number }>> {
  const rows = await db.k
    .selectFrom('users as u')
    .selectAll('u')
    .select((eb) => [
      eb.selectFrom('sessions as s').select((e) => e.fn.countAll().as('n')).whereRef('s.owner_id', '=', 'u.id').where('s.deleted', '=', 0).as('sessions'),
      eb.selectFrom('sessions as s').select((e) => e.fn.countAll().as('n')).whereRef('s.owner_id', '=', 'u.id').where('s.status', 'in', ['provisioning', 'running']).as('live'),
    ])
    .orderBy('u.created_at')
    .orderBy('u.email')
    .execute();
  return rows.map((r) => ({ ...r, sessions: Number(r.sessions), live: Number(r.live) }));
}

export async function setPasswordHash(db: Db, userId: string, passwordHash: string): Promise<void> {
  await db.k.updateTable('users').set({ password_hash: passwordHash }).where('id', '=', userId).execute();
}

/** Signs the account out everywhere: its access and refresh tokens and share links revoked, its
 * browser sign-ins, one-time links and pending device codes gone. Returns how many live logins (refresh tokens) it had. */
export async function revokeUserLogins(db: Db, userId: string, nowIso: string): Promise<number> {
  return db.transaction(async (tx) => {
    const live = await tx.k
      .selectFrom('tokens')
      .select((eb) => eb.fn.countAll().as('n'))
      .where('user_id', '=', userId)
      .where('kind', '=', 'refresh')
      .where('revoked', '=', 0)
      .where('expires_at', '>', nowIso)
      .executeTakeFirstOrThrow();
    await tx.k.updateTable('tokens').set({ revoked: 1 }).where('user_id', '=', userId).where('kind', 'in', ['access', 'refresh']).execute();
    await tx.k.deleteFrom('web_sessions').where('user_id', '=', userId).execute();
    await tx.k.deleteFrom('web_links').where('user_id', '=', userId).execute();
    // What the account shared stops working too (a stolen login's share links among them).
    await tx.k.updateTable('share_links').set({ revoked_at: nowIso }).where('created_by', '=', userId).where('revoked_at', 'is', null).execute();
    await tx.k.deleteFrom('device_codes').where('user_id', '=', userId).execute();
    return Number(live.n);
  });
}

/** Deletes the account and every row that refers to it, in one transaction. The caller makes sure
 * nothing outside the database is left behind (its sessions' machines and snapshot objects). */
export async function deleteUserRows(db: Db, userId: string): Promise<void> {
  await db.transaction(async (tx) => {
    const owned = tx.k.selectFrom('sessions').select('id').where('owner_id', '=', userId);
    await tx.k.deleteFrom('snapshots').where('session_id', 'in', owned).execute();
    await tx.k.deleteFrom('agent_state_keys').where('session_id', 'in', owned).execute();
    await tx.k.deleteFrom('egress_refusals').where('session_id', 'in', owned).execute();
    await tx.k.deleteFrom('share_links').where((eb) => eb.or([eb('session_id', 'in', owned), eb('created_by', '=', userId)])).execute();
    await tx.k.deleteFrom('tokens').where('user_id', '=', userId).execute();
    await tx.k.deleteFrom('web_sessions').where('user_id', '=', userId).execute();
    await tx.k.deleteFrom('web_links').where('user_id', '=', userId).execute();
    await tx.k.deleteFrom('device_codes').where('user_id', '=', userId).execute();
    await tx.k.deleteFrom('sessions').where('owner_id', '=', userId).execute();
    await tx.k.deleteFrom('users').where('id', '=', userId).execute();
  });
}

/**
 * Inside a transaction: holds the account's row until the transaction ends, so that work counted
 * per account (the live-session limit) is done by one transaction at a time, across replicas.
 * Postgres: a row lock (SELECT … FOR UPDATE). SQLite rejects FOR UPDATE and needs none: its
 * write transaction (BEGIN IMMEDIATE, db.ts) already excludes every other writer.
 */
export async function lockUser(db: Db, userId: string): Promise<void> {
  if (db.dialect !== 'postgres') return;
  await db.k.selectFrom('users').select('id').where('id', '=', userId).forUpdate().execute();
}
