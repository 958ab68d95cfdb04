/**
 * The sign-in throttle's counters (api/auth/throttle.ts), in the database so that every API
 * replica on it counts the same attempts. One row per key (an account's or a client address's
 * hash): attempts taken in the window, and when the window ends. Rows are removed only once
 * their window has passed: nothing evicts a live one.
 */
import type { Db } from './db.js';

export interface ThrottleRow {
  key: string;
  attempts: number;
  window_ends_at: string;
}

export function throttleRow(db: Db, key: string): ThrottleRow | undefined {
  return db.prepare('SELECT key, attempts, window_ends_at FROM login_throttle WHERE key = ?').get(key) as ThrottleRow | undefined;
}

/** One more attempt on `key`: a new window ending at `windowEndsAt` when it has none. */
export function countAttempt(db: Db, key: string, windowEndsAt: string): void {
  db.prepare('INSERT INTO login_throttle (key, attempts, window_ends_at) VALUES (?, 1, ?) ON CONFLICT (key) DO UPDATE SET attempts = attempts + 1').run(key, windowEndsAt);
}

/** Gives one attempt on `key` back. */
export function uncountAttempt(db: Db, key: string): void {
  db.prepare('UPDATE login_throttle SET attempts = attempts - 1 WHERE key = ? AND attempts > 0').run(key);
}

export function clearAttempts(db: Db, key: string): void {
  db.prepare('DELETE FROM login_throttle WHERE key = ?').run(key);
}

/** Removes the rows whose window has passed. */
export function purgeThrottle(db: Db, nowIso: string): void {
  db.prepare('DELETE FROM login_throttle WHERE window_ends_at <= ?').run(nowIso);
}
