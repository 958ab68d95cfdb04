import { describe, expect, it } from 'vitest';
import { createApp } from '../../api/app.js';
import { DeviceCodeResponse } from '../../api/contract/schemas.js';
import { createUser } from '../../api/services/users.js';
import { purgeExpired } from '../../api/services/sweeper.js';
import { call, makeTestDeps, page as pageRequest } from '../helpers/api-fakes.js';
import { routes } from '../../api/contract/routes.js';

async function setup() {
  const deps = await makeTestDeps();
  const app = createApp(deps);
  await createUser(deps, 'ada@example.com', 'correct horse battery');
  return { deps, app };
}

function cookiesOf(headers: Headers): string {
  return headers
    .getSetCookie()
    .map((c) => c.split(';')[0])
    .join('; ');
}

describe('/device page', () => {
  it('escapes the code it echoes and sets strict security headers', async () => {
    const { app } = await setup();
    const res = await pageRequest(app, 'GET', '/device?code=%22%3E%3Cscript%3Ealert(1)%3C/script%3E');
    expect(res.status).toBe(200);
    expect(res.body).not.toContain('<script>');
    expect(res.body).toContain('&quot;&gt;&lt;script&gt;');
    expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    const setCookie = res.headers.getSetCookie().join('\n');
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).toMatch(/SameSite=Strict/);
  });

  it('refuses a sign-in without the matching CSRF token, accepts one with it', async () => {
    const { app } = await setup();
    const page = await pageRequest(app, 'GET', '/device');
    const cookie = cookiesOf(page.headers);
    const csrf = /name="csrf" value="([^"]+)"/.exec(page.body as string)![1]!;
    const form = (fields: Record<string, string>) => ({ rawBody: new URLSearchParams(fields).toString(), headers: { 'content-type': 'application/x-www-form-urlencoded', cookie } });
    const forged = await pageRequest(app, 'POST', '/device/login', form({ email: 'ada@example.com', password: 'correct horse battery', csrf: 'nope', code: '' }));
    expect(forged.status).toBe(403);
    const wrong = await pageRequest(app, 'POST', '/device/login', form({ email: 'ada@example.com', password: 'nope', csrf, code: '' }));
    expect(wrong.status).toBe(401);
    const ok = await pageRequest(app, 'POST', '/device/login', form({ email: 'ADA@example.com', password: 'correct horse battery', csrf, code: 'BCDF-GHJK' }));
    expect(ok.status).toBe(303);
    expect(ok.headers.get('location')).toBe('/device?code=BCDF-GHJK');
    // The browser view's sign-in too (issue 24): the whole origin, SameSite=Lax (api/auth/web.ts).
    expect(ok.headers.getSetCookie().join('\n')).toMatch(/catty_web=.*Path=\/;.*HttpOnly.*SameSite=Lax/);
  });

  it('approving needs a signed-in browser; unknown codes are explained', async () => {
    const { app } = await setup();
    const codes = DeviceCodeResponse.parse((await call(app, routes.deviceCode)).body);
    const anonymous = await pageRequest(app, 'POST', '/device/decide', { rawBody: `code=${codes.user_code}&action=approve&csrf=x`, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(anonymous.status).toBe(303);
    const page = await pageRequest(app, 'GET', '/device');
    let cookie = cookiesOf(page.headers);
    const csrf = /name="csrf" value="([^"]+)"/.exec(page.body as string)![1]!;
    const login = await pageRequest(app, 'POST', '/device/login', { rawBody: new URLSearchParams({ email: 'ada@example.com', password: 'correct horse battery', csrf, code: '' }).toString(), headers: { 'content-type': 'application/x-www-form-urlencoded', cookie } });
    cookie = `${cookie}; ${cookiesOf(login.headers)}`;
    const signedIn = await pageRequest(app, 'GET', '/device', { headers: { cookie } });
    const webCsrf = /name="csrf" value="([^"]+)"/.exec(signedIn.body as string)![1]!;
    const decide = (code: string) => pageRequest(app, 'POST', '/device/decide', { rawBody: new URLSearchParams({ code, action: 'approve', csrf: webCsrf }).toString(), headers: { 'content-type': 'application/x-www-form-urlencoded', cookie } });
    const unknown = await decide('ZZZZ-ZZZZ');
    expect(unknown.status).toBe(400);
    expect(unknown.body).toContain('not valid');
    const approved = await decide(codes.user_code.toLowerCase());
    expect(approved.status).toBe(200);
    expect(approved.body).toContain('Approved');
  });

  it('brakes password guessing per email after 10 failures', async () => {
    const { deps, app } = await setup();
    const page = await pageRequest(app, 'GET', '/device');
    const cookie = cookiesOf(page.headers);
    const csrf = /name="csrf" value="([^"]+)"/.exec(page.body as string)![1]!;
    const attempt = (password: string) =>
      pageRequest(app, 'POST', '/device/login', { rawBody: new URLSearchParams({ email: 'ada@example.com', password, csrf, code: '' }).toString(), headers: { 'content-type': 'application/x-www-form-urlencoded', cookie } });
    for (let i = 0; i < 10; i++) expect((await attempt(`guess-${i}`)).status).toBe(401);
    // even the right password is refused while the brake is on
    expect((await attempt('correct horse battery')).status).toBe(429);
    deps.clock.ms += 15 * 60 * 1000;
    expect((await attempt('correct horse battery')).status).toBe(303);
  });
});

describe('housekeeping', () => {
  it('purges device codes, browser sign-ins and user tokens a day past expiry', async () => {
    const { deps, app } = await setup();
    await call(app, routes.deviceCode);
    const user = await deps.db.k.selectFrom('users').select('id').executeTakeFirstOrThrow();
    const { issueTokenPair } = await import('../../api/auth/tokens.js');
    await issueTokenPair(deps, user.id);
    const count = async (table: 'device_codes' | 'web_sessions' | 'tokens') => (await deps.db.k.selectFrom(table).selectAll().execute()).length;
    await purgeExpired(deps);
    expect([await count('device_codes'), await count('tokens')]).toEqual([1, 2]);
    deps.clock.ms += deps.config.accessTokenTtlSec * 1000 + 24 * 3600 * 1000 + 1;
    await purgeExpired(deps);
    // the device code and the access token are gone; the 30-day refresh token stays
    expect([await count('device_codes'), await count('tokens')]).toEqual([0, 1]);
  });
});
