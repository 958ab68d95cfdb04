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
