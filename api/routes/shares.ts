/**
 * Read-only share links (issue 24, item 6): the owner mints one (`catty share <label> --ttl`) or
 * revokes them all (`--revoke`); whoever holds one sees that session only — its label, status
 * and agent, its terminal (watch-only, the relay's business: api/relay/) and its files. A share
 * token authenticates the `share` routes alone (requireShare); it is no access token, so every
 * owner route refuses it (401), and these routes never take a session id from the request: the
 * link names its session.
 */
import type { Hono } from 'hono';
import { routes } from '../contract/routes.js';
import type { AppEnv, Deps } from '../deps.js';
import { unauthorized } from '../errors.js';
import { jsonBody } from '../middleware/json-body.js';
import { mintShareLink } from '../auth/web.js';
import { iso } from '../state/db.js';
import { sessionById, type SessionRow } from '../state/sessions.js';
import { revokeShareLinks } from '../state/share-links.js';
import { ownedSessionOr404 } from './owned-session.js';
import { registrar, reply } from './register.js';
import { runtimeDiff, runtimeTree } from './files.js';

export function shareRoutes(app: Hono<AppEnv>, deps: Deps): void {
  const on = registrar(app, deps);

  const owned = (userId: string, idOrLabel: string): Promise<SessionRow> => ownedSessionOr404(deps.db, userId, idOrLabel);

  /** The shared session (requireShare checked the link is live and its session not deleted). */
  const shared = async (sessionId: string): Promise<SessionRow> => {
    const row = await sessionById(deps.db, sessionId);
    if (!row || row.deleted) throw unauthorized('this share link is not valid (expired, revoked, or mistyped)');
    return row;
  };

  on(routes.createShare, async (c) => {
    const body = await jsonBody(c, routes.createShare.request);
    const row = await owned(c.get('userId'), c.req.param('ref'));
    c.header('Cache-Control', 'no-store');
    return reply(c, routes.createShare, await mintShareLink(deps, row.id, c.get('userId'), body.ttlSec));
  });

  on(routes.revokeShares, async (c) => {
    const row = await owned(c.get('userId'), c.req.param('ref'));
    return reply(c, routes.revokeShares, { revoked: await revokeShareLinks(deps.db, row.id, iso(deps.now())) });
  });

  on(routes.shareSession, async (c) => {
    const row = await shared(c.get('sessionId'));
    c.header('Cache-Control', 'no-store');
    return reply(c, routes.shareSession, { label: row.label, status: row.status, agent: row.agent, createdAt: row.created_at, linkExpiresAt: c.get('shareExpiresAt') });
  });

  on(routes.shareFiles, async (c) => reply(c, routes.shareFiles, await runtimeTree(deps, await shared(c.get('sessionId')))));

  on(routes.shareFileDiff, async (c) => {
    const row = await shared(c.get('sessionId'));
    const body = await jsonBody(c, routes.shareFileDiff.request);
    return reply(c, routes.shareFileDiff, await runtimeDiff(deps, row, body.path));
  });
}
