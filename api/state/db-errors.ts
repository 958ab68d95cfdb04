/** The database's failures as the operator and the client see them. */
import { HttpError } from '../errors.js';
import { UserError } from '../../session-runtime/wire/errors.js';

/** The URL without its password, for messages. */
export function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparsable)';
  }
}

/** At start: the configured database cannot be used. One line that names the setting. */
export function databaseUnreachable(url: string, reason: string, cause?: unknown): UserError {
  return new UserError(`cannot use the database at CATTY_DATABASE_URL ${describeUrl(url)}: ${reason || 'connection failed'}`, {
    cause,
    hint: 'Set CATTY_DATABASE_URL to postgres://user:password@host:port/database of a running Postgres server (unset: SQLite in the data directory).',
  });
}

/** Error codes (Node's and Postgres's) that mean "the server is not there", not "the query is wrong". */
const UNAVAILABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', '57P01', '57P02', '57P03', '08000', '08003', '08006', '08001', '08004']);
const UNAVAILABLE_MESSAGES = /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|connection is closed|Connection ended|Query read timeout|not queryable/i;

/** True for an error that says the database server is unreachable or went away. */
export function isDatabaseUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && UNAVAILABLE.has(code)) return true;
  if (UNAVAILABLE_MESSAGES.test(err.message)) return true;
  const cause = (err as { cause?: unknown }).cause;
  return cause !== undefined && cause !== err && isDatabaseUnavailable(cause);
}

/** What a request gets while the database is unreachable: 503, retry later. */
export const databaseUnavailable = (): HttpError => new HttpError(503, 'database_unavailable', 'the state database is unreachable; try again shortly');
