/**
 * Who may use the relay: the holder of a running session's connect token. Checked before a
 * single byte is forwarded (and before a WebSocket upgrade), in constant time against the
 * token the API keeps sealed for that session.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { RuntimeEndpoint } from '../../session-runtime/wire/runtime-address.js';
import { decrypt } from '../crypto.js';
import type { Deps } from '../deps.js';
import { bearer } from '../middleware/auth.js';
import { rowEndpoint } from '../services/runtime-client.js';
import { databaseUnavailable, isDatabaseUnavailable } from '../state/db-errors.js';
import { sessionById, type SessionRow } from '../state/sessions.js';

export type RelayAuth =
  | { ok: true; runtime: RuntimeEndpoint; connectToken: string }
  | { ok: false; status: 401 | 404 | 409 | 503; code: string; message: string };

const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

/** Hashing first makes the comparison independent of the given token's length. */
function tokenMatches(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

export async function authorizeRelay(deps: Pick<Deps, 'db' | 'key'> & Partial<Pick<Deps, 'provisioner'>>, sessionId: string, authorization: string | undefined): Promise<RelayAuth> {
  let row: SessionRow | undefined;
  try {
    row = await sessionById(deps.db, sessionId);
  } catch (err) {
    if (!isDatabaseUnavailable(err)) throw err;
    const { status, code, message } = databaseUnavailable();
    return { ok: false, status: status as 503, code, message };
  }
  if (!row || row.deleted) return { ok: false, status: 404, code: 'not_found', message: 'no such session' };
  const reached = runningRuntime(deps, row);
  if (!reached.ok) return reached;
  const given = bearer(authorization);
  if (given === null || !tokenMatches(given, reached.connectToken)) {
    return { ok: false, status: 401, code: 'unauthorized', message: 'missing or wrong connect token' };
  }
  return reached;
}

/** A running session's runtime and its connect token (what the relay presents upstream); 409
 * for a session that is not running. Shared with the browsers' relay (browser-auth.ts). */
export function runningRuntime(deps: Pick<Deps, 'key'> & Partial<Pick<Deps, 'provisioner'>>, row: SessionRow): Extract<RelayAuth, { ok: true }> | { ok: false; status: 409; code: string; message: string } {
  const runtime = rowEndpoint(row, deps.provisioner?.runtimeTls);
  // An ended session's token is gone (endSession clears it): nothing to compare against.
  if (row.status !== 'running' || !row.connect_token_enc || !runtime) {
    return { ok: false, status: 409, code: 'session_ended', message: `the session is ${row.status}` };
  }
  return { ok: true, runtime, connectToken: decrypt(deps.key, row.connect_token_enc, `connect:${row.id}`) };
}
