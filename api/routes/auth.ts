/** Sign-in (the device flow, refresh, logout) and who the caller is. */
import type { Hono } from 'hono';
import { routes } from '../contract/routes.js';
import type { DeviceTokenError, DeviceTokenRequest } from '../contract/schemas.js';
import { sha256Hex } from '../crypto.js';
import type { AppEnv, Deps } from '../deps.js';
import { unauthorized } from '../errors.js';
import { bearer } from '../middleware/auth.js';
import { jsonBody } from '../middleware/json-body.js';
import { pollDeviceToken, startDeviceAuthorization } from '../auth/device.js';
import { rotateRefreshToken } from '../auth/tokens.js';
import { liveToken, revokeToken } from '../state/tokens.js';
import { userById } from '../state/users.js';
import { iso } from '../state/db.js';
import { registrar, reply } from './register.js';

function tokenBody(pair: { access_token: string; refresh_token: string; token_type: 'Bearer'; expires_in: number }) {
  return { access_token: pair.access_token, refresh_token: pair.refresh_token, token_type: pair.token_type, expires_in: pair.expires_in };
}

export function authRoutes(app: Hono<AppEnv>, deps: Deps): void {
  const on = registrar(app, deps);

  on(routes.deviceCode, async (c) => reply(c, routes.deviceCode, await startDeviceAuthorization(deps)));

  // The one route whose errors follow RFC 8628 §3.5 rather than the ErrorBody every other route answers with.
  on(routes.deviceToken, async (c) => {
    let body: DeviceTokenRequest;
    try {
      body = await jsonBody(c, routes.deviceToken.request);
    } catch {
      const error: DeviceTokenError = { error: 'invalid_grant', error_description: 'expected {grant_type: "urn:ietf:params:oauth:grant-type:device_code", device_code}' };
      return c.json(error, 400);
    }
    const result = await pollDeviceToken(deps, body.device_code);
    c.header('Cache-Control', 'no-store');
    return result.ok ? reply(c, routes.deviceToken, tokenBody(result.tokens)) : c.json(result.error, 400);
  });

  on(routes.refresh, async (c) => {
    const body = await jsonBody(c, routes.refresh.request);
    const pair = await rotateRefreshToken(deps, body.refresh_token);
    if (!pair) throw unauthorized('refresh token is invalid, expired or already used');
    c.header('Cache-Control', 'no-store');
    return reply(c, routes.refresh, tokenBody(pair));
  });

  // Revokes the presented access token and, when given, the caller's refresh token.
  on(routes.logout, async (c) => {
    const body = await jsonBody(c, routes.logout.request);
    const access = bearer(c.req.header('authorization'));
    if (access) await revokeToken(deps.db, sha256Hex(access));
    if (body.refresh_token) {
      const row = await liveToken(deps.db, sha256Hex(body.refresh_token), 'refresh', iso(deps.now()));
      if (row && row.user_id === c.get('userId')) await revokeToken(deps.db, row.hash);
    }
    return reply(c, routes.logout, { ok: true });
  });

  on(routes.me, async (c) => {
    const user = await userById(deps.db, c.get('userId'));
    if (!user) throw unauthorized();
    return reply(c, routes.me, { id: user.id, email: user.email });
  });
}
