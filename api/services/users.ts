/** Accounts: created, listed, given a new password and removed by the admin command (or the
 * local control plane's one account). */
import { randomBytes } from 'node:crypto';
import * as z from '../../session-runtime/wire/zod.js';
import { UserError } from '../../session-runtime/wire/errors.js';
import { hashPassword } from '../auth/passwords.js';
import { newId } from '../crypto.js';
import type { Deps } from '../deps.js';
import { usageError } from '../errors.js';
import { iso, type Db } from '../state/db.js';
import { LIVE_STATUSES, listOwned } from '../state/sessions.js';
import { deleteUserRows, insertUser, listUsersWithSessions, revokeUserLogins, setPasswordHash, userByEmail, type UserRow } from '../state/users.js';

// Plus `name@localhost`, which zod's email check rejects (the local account uses it).
const Email = z.pipe(z.union([z.email(), z.string().check(z.regex(/^[a-z0-9._+-]+@localhost$/))]), z.string().check(z.maxLength(320)));
export const MIN_PASSWORD_LENGTH = 8;

function checkPassword(password: string): void {
  if (password.length < MIN_PASSWORD_LENGTH) throw usageError(`the password must have at least ${MIN_PASSWORD_LENGTH} characters`);
}

async function existingUser(db: Db, emailInput: string): Promise<UserRow> {
  const user = await userByEmail(db, emailInput.trim());
  if (!user) throw new UserError(`no account for ${emailInput.trim()}`, { hint: 'See `catty-api users list`.' });
  return user;
}

export async function createUser(deps: { db: Db; now: () => number }, emailInput: string, password: string): Promise<UserRow> {
  const email = emailInput.trim().toLowerCase();
  if (!Email.safeParse(email).success) throw usageError(`"${emailInput}" is not an email address`);
  checkPassword(password);
  if (await userByEmail(deps.db, email)) throw usageError(`an account for ${email} already exists`);
  const row: UserRow = { id: newId(), email, password_hash: await hashPassword(password), created_at: iso(deps.now()) };
  await insertUser(deps.db, row);
  return row;
}

export interface Account {
  id: string;
  email: string;
  createdAt: string;
  /** Sessions not deleted (stopped ones keep their snapshots). */
  sessions: number;
  /** Of those, provisioning or running. */
  running: number;
}

export async function listAccounts(db: Db): Promise<Account[]> {
  return (await listUsersWithSessions(db)).map((u) => ({ id: u.id, email: u.email, createdAt: u.created_at, sessions: u.sessions, running: u.live }));
}

/** A new password, and every login the account had signed out (a reset is what follows a leak). */
export async function resetPassword(deps: { db: Db; now: () => number }, emailInput: string, password: string): Promise<{ user: UserRow; signedOut: number }> {
  const user = await existingUser(deps.db, emailInput);
  checkPassword(password);
  await setPasswordHash(deps.db, user.id, await hashPassword(password));
  return { user, signedOut: await revokeUserLogins(deps.db, user.id, iso(deps.now())) };
}

/**
 * Removes an account — refused while it has sessions. This command runs beside the serving API,
 * which owns the machines, and without its object storage: it can neither stop a running
 * session nor delete a stopped one's snapshots, and deleting the rows would leave both behind,
 * unreachable. The user deletes them (`catty stop LABEL --delete`); a password reset signs
 * the account out meanwhile.
 */
export async function removeUser(deps: { db: Db }, emailInput: string): Promise<UserRow> {
  const user = await existingUser(deps.db, emailInput);
  const sessions = await listOwned(deps.db, user.id);
  if (sessions.length > 0) {
    const running = sessions.filter((s) => LIVE_STATUSES.includes(s.status)).length;
    const shown = sessions.slice(0, 5).map((s) => s.label);
    throw new UserError(`${user.email} still has ${sessions.length} session${sessions.length === 1 ? '' : 's'} (${running} running): ${shown.join(', ')}${sessions.length > shown.length ? ', …' : ''}`, {
      hint: `Not removed: their machines and snapshots would be left behind. They go with \`catty stop LABEL --delete\` as ${user.email}; to lock the account out meanwhile: catty-api users reset-password ${user.email}`,
    });
  }
  await deleteUserRows(deps.db, user.id);
  return user;
}

/** The local control plane's single account; its password is random and never used. */
export async function ensureLocalUser(deps: Pick<Deps, 'db' | 'now'>, email = 'local@localhost'): Promise<UserRow> {
  return (await userByEmail(deps.db, email)) ?? (await createUser(deps, email, randomBytes(24).toString('base64url')));
}
