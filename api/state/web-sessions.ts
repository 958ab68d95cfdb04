/** Browser sign-ins for the /device page (cookie holds the token; only its hash is stored). */
import type { Db } from './db.js';

export interface WebSessionRow {
  hash: string;
  user_id: string;
  csrf: string;
  expires_at: string;
  created_at: string;
}

export function insertWebSession(db: Db, row: WebSessionRow): void {
  db.prepare('INSERT INTO web_sessions (hash, user_id, csrf, expires_at, created_at) VALUES (@hash, @user_id, @csrf, @expires_at, @created_at)').run(row);
}

export function liveWebSession(db: Db, hash: string, nowIso: string): WebSessionRow | undefined {
  return db.prepare('SELECT * FROM web_sessions WHERE hash = ? AND expires_at > ?').get(hash, nowIso) as WebSessionRow | undefined;
}
