import { describe, expect, it } from 'vitest';
import { createApp } from '../../api/app.js';
import { issueTokenPair } from '../../api/auth/tokens.js';
import { decideDeviceCode } from '../../api/auth/device.js';
import { DeviceCodeResponse, TokenResponse } from '../../api/contract/schemas.js';
import { sha256Hex } from '../../api/crypto.js';
import { createUser } from '../../api/services/users.js';
import { call, makeTestDeps } from '../helpers/api-fakes.js';
import { routes } from '../../api/contract/routes.js';

async function setup() {
  const deps = await makeTestDeps({ deviceCodeIntervalSec: 5, deviceCodeTtlSec: 600 });
  const app = createApp(deps);
  const user = await createUser(deps, 'Ada@Example.com', 'correct horse battery');
  return { deps, app, user };
}

const GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

describe('device authorization (RFC 8628)', () => {
  it('issues codes, answers pending, then tokens once approved, and never twice', async () => {
    const { deps, app, user } = await setup();
    const start = await call(app, routes.deviceCode);
    expect(start.status).toBe(200);
    const codes = DeviceCodeResponse.parse(start.body);
    expect(codes.user_code).toMatch(/^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/);
    expect(codes.verification_uri).toBe('http://api.test/device');
    expect(codes.verification_uri_complete).toBe(`http://api.test/device?code=${codes.user_code}`);
    expect(codes).toMatchObject({ expires_in: 600, interval: 5 });
    // only the hash is stored
    const stored = await deps.db.k.selectFrom('device_codes').select('hash').executeTakeFirstOrThrow();
    expect(stored.hash).toBe(sha256Hex(codes.device_code));

    const poll = () => call(app, routes.deviceToken, { body: { grant_type: GRANT, device_code: codes.device_code } });
    expect((await poll()).body).toMatchObject({ error: 'authorization_pending' });
    deps.clock.ms += 5000;
    expect(await decideDeviceCode(deps, codes.user_code.toLowerCase().replace('-', ' '), user.id, true)).toBe('approved');
    const ok = await poll();
    expect(ok.status).toBe(200);
    const tokens = TokenResponse.parse(ok.body);
    expect((await call(app, routes.me, { token: tokens.access_token })).body).toEqual({ id: user.id, email: 'ada@example.com' });
    deps.clock.ms += 5000;
    const again = await poll();
    expect(again.status).toBe(400);
    expect(again.body.error).toBe('invalid_grant');
  });

  it('malformed token requests get an RFC-shaped 400', async () => {
    const { app } = await setup();
    for (const body of [{}, { grant_type: 'password', device_code: 'x' }, { grant_type: GRANT, device_code: 'x', extra: 1 }]) {
      const res = await call(app, routes.deviceToken, { body });
      expect(res.status).toBe(400);
      expect(res.body.error).toBe('invalid_grant');
    }
    const unknown = await call(app, routes.deviceToken, { body: { grant_type: GRANT, device_code: 'cat_dc_nope' } });
    expect(unknown.body.error).toBe('invalid_grant');
  });
});

describe('tokens', () => {
  it('refresh rotates: the new pair works, the old refresh token does not', async () => {
    const { deps, app, user } = await setup();
    const pair = await issueTokenPair(deps, user.id);
    const res = await call(app, routes.refresh, { body: { refresh_token: pair.refresh_token } });
    expect(res.status).toBe(200);
    const next = TokenResponse.parse(res.body);
    expect(next.refresh_token).not.toBe(pair.refresh_token);
    expect((await call(app, routes.me, { token: next.access_token })).status).toBe(200);
    const reuse = await call(app, routes.refresh, { body: { refresh_token: pair.refresh_token } });
    expect(reuse.status).toBe(401);
    // an access token is not a refresh token
    expect((await call(app, routes.refresh, { body: { refresh_token: next.access_token } })).status).toBe(401);
  });

  it('expired refresh tokens are refused', async () => {
    const { deps, app, user } = await setup();
    const pair = await issueTokenPair(deps, user.id);
    deps.clock.ms += deps.config.refreshTokenTtlSec * 1000 + 1;
    expect((await call(app, routes.refresh, { body: { refresh_token: pair.refresh_token } })).status).toBe(401);
  });

  it('logout revokes the access and refresh tokens', async () => {
    const { deps, app, user } = await setup();
    const pair = await issueTokenPair(deps, user.id);
    const out = await call(app, routes.logout, { token: pair.access_token, body: { refresh_token: pair.refresh_token } });
    expect(out.status).toBe(200);
    expect(out.body).toEqual({ ok: true });
    expect((await call(app, routes.me, { token: pair.access_token })).status).toBe(401);
    expect((await call(app, routes.refresh, { body: { refresh_token: pair.refresh_token } })).status).toBe(401);
  });

  it('stores tokens only as hashes', async () => {
    const { deps, user } = await setup();
    const pair = await issueTokenPair(deps, user.id);
    const dump = JSON.stringify(await deps.db.k.selectFrom('tokens').selectAll().execute());
    expect(dump).not.toContain(pair.access_token);
    expect(dump).not.toContain(pair.refresh_token);
    expect(dump).toContain(sha256Hex(pair.access_token));
  });

});
