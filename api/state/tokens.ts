/** Bearer tokens, stored only as sha256 hashes. */
import type { Db } from './db.js';

export type TokenKind = 'access' | 'refresh' | 'machine';

export interface TokenRow {
  hash: string;
  kind: TokenKind;
  user_id: string;
  session_id: string | null;
  expires_at: string | null;
  revoked: number;
  created_at: string;
}

export function insertToken(db: Db, row: Omit<TokenRow, 'revoked'>): void {
  db.prepare(
    'INSERT INTO tokens (hash, kind, user_id, session_id, expires_at, revoked, created_at) VALUES (@hash, @kind, @user_id, @session_id, @expires_at, 0, @created_at)',
  ).run(row);
}

/** A live token of this kind (not revoked, not expired at `nowIso`). */
export function liveToken(db: Db, hash: string, kind: TokenKind, nowIso: string): TokenRow | undefined {
  return db
    .prepare('SELECT * FROM tokens WHERE hash = ? AND kind = ? AND revoked = 0 AND (expires_at IS NULL OR expires_at > ?)')
    .get(hash, kind, nowIso) as TokenRow | undefined;
}

export function revokeToken(db: Db, hash: string): boolean {
  return db.prepare('UPDATE tokens SET revoked = 1 WHERE hash = ? AND revoked = 0').run(hash).changes > 0;
}

export function revokeSessionTokens(db: Db, sessionId: string): void {
  db.prepare('UPDATE tokens SET revoked = 1 WHERE session_id = ?').run(sessionId);
}
