/** /v1/auth/* and /v1/me. */
import { Hono } from 'hono';
import { DeviceTokenRequest, LogoutRequest, RefreshRequest, type DeviceTokenError } from '../contract/schemas.js';
import { sha256Hex } from '../crypto.js';
import type { AppEnv, Deps } from '../deps.js';
import { unauthorized } from '../errors.js';
import { bearer, requireUser } from '../middleware/auth.js';
import { jsonBody } from '../middleware/json-body.js';
import { pollDeviceToken, startDeviceAuthorization } from '../auth/device.js';
import { rotateRefreshToken } from '../auth/tokens.js';
import { liveToken, revokeToken } from '../state/tokens.js';
import { userById } from '../state/users.js';
import { iso } from '../state/db.js';

function tokenBody(pair: { access_token: string; refresh_token: string; token_type: 'Bearer'; expires_in: number }) {
  return { access_token: pair.access_token, refresh_token: pair.refresh_token, token_type: pair.token_type, expires_in: pair.expires_in };
}

export function authRoutes(deps: Deps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.post('/auth/device', (c) => c.json(startDeviceAuthorization(deps)));

  // The one route whose errors follow RFC 8628 §3.5 rather than ApiError.
  app.post('/auth/device/token', async (c) => {
    let body: DeviceTokenRequest;
    try {
      body = await jsonBody(c, DeviceTokenRequest);
    } catch {
      const error: DeviceTokenError = { error: 'invalid_grant', error_description: 'expected {grant_type: "urn:ietf:params:oauth:grant-type:device_code", device_code}' };
      return c.json(error, 400);
    }
    const result = pollDeviceToken(deps, body.device_code);
    c.header('Cache-Control', 'no-store');
    return result.ok ? c.json(tokenBody(result.tokens)) : c.json(result.error, 400);
  });

  app.post('/auth/refresh', async (c) => {
    const body = await jsonBody(c, RefreshRequest);
    const pair = rotateRefreshToken(deps, body.refresh_token);
    if (!pair) throw unauthorized('refresh token is invalid, expired or already used');
    c.header('Cache-Control', 'no-store');
    return c.json(tokenBody(pair));
  });

  // Revokes the presented access token and, when given, the caller's refresh token.
  app.post('/auth/logout', requireUser(deps), async (c) => {
    const body = await jsonBody(c, LogoutRequest);
    const access = bearer(c.req.header('authorization'));
    if (access) revokeToken(deps.db, sha256Hex(access));
    if (body.refresh_token) {
      const row = liveToken(deps.db, sha256Hex(body.refresh_token), 'refresh', iso(deps.now()));
      if (row && row.user_id === c.get('userId')) revokeToken(deps.db, row.hash);
    }
    return c.json({ ok: true as const });
  });

  app.get('/me', requireUser(deps), (c) => {
    const user = userById(deps.db, c.get('userId'));
    if (!user) throw unauthorized();
    return c.json({ id: user.id, email: user.email });
  });

  return app;
}
