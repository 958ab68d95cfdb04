/** Account rows (and, for an account's removal or sign-out, the rows that refer to it). */
import type { Db } from './db.js';

export interface UserRow {
  id: string;
  email: string;
  password_hash: string;
  created_at: string;
}

export function insertUser(db: Db, user: UserRow): void {
  db.prepare('INSERT INTO users (id, email, password_hash, created_at) VALUES (@id, @email, @password_hash, @created_at)').run(user);
}

export function userByEmail(db: Db, email: string): UserRow | undefined {
  return db.prepare('SELECT * FROM users WHERE email = ?').get(email.toLowerCase()) as UserRow | undefined;
}

export function userById(db: Db, id: string): UserRow | undefined {
  return db.prepare('SELECT * FROM users WHERE id = ?').get(id) as UserRow | undefined;
}

/** Every account, oldest first, with how many sessions it has (not deleted) and how many of those
 * may still have a machine. */
export function listUsersWithSessions(db: Db): Array<UserRow & { sessions: number; live: number }> {
  return db
    .prepare(
      `SELECT u.*,
         (SELECT COUNT(*) FROM sessions s WHERE s.owner_id = u.id AND s.deleted = 0) AS sessions,
         (SELECT COUNT(*) FROM sessions s WHERE s.owner_id = u.id AND s.status IN ('provisioning', 'running')) AS live
       FROM users u ORDER BY u.created_at, u.email`,
    )
    .all() as Array<UserRow & { sessions: number; live: number }>;
}

export function setPasswordHash(db: Db, userId: string, passwordHash: string): void {
  db.prepare('UPDATE users SET password_hash = ? WHERE id = ?').run(passwordHash, userId);
}

/** Signs the account out everywhere: its access and refresh tokens revoked, its browser sign-ins
 * and pending device codes gone. Returns how many live logins (refresh tokens) it had. */
export function revokeUserLogins(db: Db, userId: string, nowIso: string): number {
  return db.transaction(() => {
    const live = db.prepare("SELECT COUNT(*) AS n FROM tokens WHERE user_id = ? AND kind = 'refresh' AND revoked = 0 AND expires_at > ?").get(userId, nowIso) as { n: number };
    db.prepare("UPDATE tokens SET revoked = 1 WHERE user_id = ? AND kind IN ('access', 'refresh')").run(userId);
    db.prepare('DELETE FROM web_sessions WHERE user_id = ?').run(userId);
    db.prepare('DELETE FROM device_codes WHERE user_id = ?').run(userId);
    return live.n;
  })();
}

/** Deletes the account and every row that refers to it, in one transaction. The caller makes sure
 * nothing outside the database is left behind (its sessions' machines and snapshot objects). */
export function deleteUserRows(db: Db, userId: string): void {
  db.transaction(() => {
    db.prepare('DELETE FROM snapshots WHERE session_id IN (SELECT id FROM sessions WHERE owner_id = ?)').run(userId);
    db.prepare('DELETE FROM tokens WHERE user_id = ?').run(userId);
    db.prepare('DELETE FROM web_sessions WHERE user_id = ?').run(userId);
    db.prepare('DELETE FROM device_codes WHERE user_id = ?').run(userId);
    db.prepare('DELETE FROM sessions WHERE owner_id = ?').run(userId);
    db.prepare('DELETE FROM users WHERE id = ?').run(userId);
  })();
}
