import type { MiddlewareHandler } from 'hono';
import { userForAccessToken } from '../auth/tokens.js';
import { sha256Hex } from '../crypto.js';
import type { AppEnv, Deps } from '../deps.js';
import { unauthorized } from '../errors.js';
import { iso } from '../state/db.js';
import { sessionById } from '../state/sessions.js';
import { liveToken } from '../state/tokens.js';

export function bearer(header: string | undefined): string | null {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return match?.[1] ?? null;
}

/** Users: a live access token → `userId`. */
export function requireUser(deps: Pick<Deps, 'db' | 'now'>): MiddlewareHandler<AppEnv> {
  return async function requireUserMiddleware(c, next) {
    const token = bearer(c.req.header('authorization'));
    const userId = token ? await userForAccessToken(deps, token) : null;
    if (!userId) throw unauthorized();
    c.set('userId', userId);
    await next();
  };
}

/** Session machines: a live machine token whose session is still provisioning or running →
 * `sessionId`. A stopped session's machine is refused even before its token is revoked. */
export function requireMachine(deps: Pick<Deps, 'db' | 'now'>): MiddlewareHandler<AppEnv> {
  return async function requireMachineMiddleware(c, next) {
    const token = bearer(c.req.header('authorization'));
    const row = token ? await liveToken(deps.db, sha256Hex(token), 'machine', iso(deps.now())) : undefined;
    const session = row?.session_id ? await sessionById(deps.db, row.session_id) : undefined;
    if (!session || (session.status !== 'running' && session.status !== 'provisioning')) throw unauthorized('machine token is not valid for a running session');
    c.set('sessionId', session.id);
    c.set('userId', session.owner_id);
    await next();
  };
}
