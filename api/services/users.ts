/** Accounts: created by the admin command (or the local control plane's one account). */
import { randomBytes } from 'node:crypto';
import * as z from '../../session-runtime/wire/zod.js';
import { hashPassword } from '../auth/passwords.js';
import { newId } from '../crypto.js';
import type { Deps } from '../deps.js';
import { usageError } from '../errors.js';
import { iso, type Db } from '../state/db.js';
import { insertUser, userByEmail, type UserRow } from '../state/users.js';

// Plus `name@localhost`, which zod's email check rejects (the local account uses it).
const Email = z.pipe(z.union([z.email(), z.string().check(z.regex(/^[a-z0-9._+-]+@localhost$/))]), z.string().check(z.maxLength(320)));
export const MIN_PASSWORD_LENGTH = 8;

export async function createUser(deps: { db: Db; now: () => number }, emailInput: string, password: string): Promise<UserRow> {
  const email = emailInput.trim().toLowerCase();
  if (!Email.safeParse(email).success) throw usageError(`"${emailInput}" is not an email address`);
  if (password.length < MIN_PASSWORD_LENGTH) throw usageError(`the password must have at least ${MIN_PASSWORD_LENGTH} characters`);
  if (userByEmail(deps.db, email)) throw usageError(`an account for ${email} already exists`);
  const row: UserRow = { id: newId(), email, password_hash: await hashPassword(password), created_at: iso(deps.now()) };
  insertUser(deps.db, row);
  return row;
}

/** The local control plane's single account; its password is random and never used. */
export async function ensureLocalUser(deps: Pick<Deps, 'db' | 'now'>, email = 'local@localhost'): Promise<UserRow> {
  return userByEmail(deps.db, email) ?? (await createUser(deps, email, randomBytes(24).toString('base64url')));
}
