/**
 * SECURITY.md 26–29: API tokens and input. Most run in-process against createApp with fake
 * dependencies (tests/helpers/api-fakes.ts, an injectable clock); the cross-user and
 * stopped-session checks also run against the built catty-api with real runtimes.
 */
import net from 'node:net';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, MAX_BODY_BYTES } from '../../api/app.js';
import { decideDeviceCode } from '../../api/auth/device.js';
import { issueTokenPair } from '../../api/auth/tokens.js';
import { CreatedSession, DeviceCodeResponse, SessionList } from '../../api/contract/schemas.js';
import { ErrorBody } from '../../session-runtime/wire/errors.js';
import { createUser } from '../../api/services/users.js';
import { call, makeTestDeps, appWithMachines, appWithTwoUsers, page } from '../helpers/api-fakes.js';
import { routes, type Route } from '../../api/contract/routes.js';
import type * as z from '../../session-runtime/wire/zod.js';
import { startTestApi, type TestApi } from '../helpers/api.js';

const GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

async function authSetup() {
  const deps = await makeTestDeps({ deviceCodeIntervalSec: 5, deviceCodeTtlSec: 600 });
  const app = createApp(deps);
  const user = await createUser(deps, 'Ada@Example.com', 'correct horse battery');
  return { deps, app, user };
}



async function errorsSetup() {
  const deps = await makeTestDeps();
  const app = createApp(deps);
  const user = await createUser(deps, 'alice@example.com', 'password-alice');
  const token = (await issueTokenPair(deps, user.id)).access_token;
  const s = CreatedSession.parse((await call(app, routes.createSession, { token, body: {} })).body);
  const machineToken = [...deps.provisioner.machines.values()][0]!.spec.machineToken;
  return { deps, app, token, machineToken, s };
}

/** Opens the runtime's /connect with a connect token: 'open', or why not. */
function tryConnect(info: { connectUrl: string; socketPath?: string; connectToken: string }): Promise<string> {
  const socketPath = info.socketPath;
  return new Promise((resolve) => {
    const ws = new WebSocket(`${info.connectUrl.replace(/^http/, 'ws')}/connect`, {
      headers: { authorization: `Bearer ${info.connectToken}` },
      ...(socketPath ? { createConnection: () => net.createConnection(socketPath) } : {}),
    });
    const timer = setTimeout(() => {
      ws.terminate();
      resolve('timeout');
    }, 10_000);
    ws.once('open', () => {
      clearTimeout(timer);
      ws.close();
      resolve('open');
    });
    ws.once('unexpected-response', (_req, res) => {
      clearTimeout(timer);
      ws.terminate();
      resolve(`http ${res.statusCode}`);
    });
    ws.once('error', (err) => {
      clearTimeout(timer);
      resolve(`error ${(err as NodeJS.ErrnoException).code ?? err.message}`);
    });
  });
}

describe('SECURITY.md 26–29 (in-process API)', () => {
  it('26: missing, malformed or unknown bearer tokens → 401 JSON', async () => {
    const { app } = await authSetup();
    for (const headers of [{}, { authorization: 'Basic abc' }, { authorization: 'Bearer cat_at_nope' }] as Record<string, string>[]) {
      const res = await call(app, routes.listSessions, { headers });
      expect(res.status).toBe(401);
      expect(res.body).toEqual({ error: { code: 'unauthorized', message: expect.any(String) } });
    }
  });

  it('26: an expired access token → 401', async () => {
    const { deps, app, user } = await authSetup();
    const pair = await issueTokenPair(deps, user.id);
    expect((await call(app, routes.me, { token: pair.access_token })).status).toBe(200);
    deps.clock.ms += deps.config.accessTokenTtlSec * 1000;
    const res = await call(app, routes.me, { token: pair.access_token });
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('unauthorized');
  });


  it('26: another user\'s session is a 404 for every route (get, connect, stop, delete, download, logs)', async () => {
    const { app, alice, bob } = await appWithTwoUsers();
    const a = CreatedSession.parse((await call(app, routes.createSession, { token: alice, body: {} })).body);
    for (const route of [routes.getSession, routes.connect, routes.stop, routes.deleteSession, routes.download, routes.logs]) {
      for (const ref of [a.id, a.label]) {
        const res = await call(app, route, { params: { ref }, token: bob });
        expect(res.status, `${route.method} ${route.path}`).toBe(404);
        expect(res.body.error.code).toBe('not_found');
      }
    }
    expect(SessionList.parse((await call(app, routes.listSessions, { token: bob })).body).sessions).toEqual([]);
    expect((await call(app, routes.getSession, { params: { ref: a.id }, token: alice })).body.status).toBe('running');
  });


  it('27: a stopped session hands out no connect token (409 session_ended)', async () => {
    const { deps, app, alice } = await appWithTwoUsers();
    const a = CreatedSession.parse((await call(app, routes.createSession, { token: alice, body: {} })).body);
    const stopped = await call(app, routes.stop, { params: { ref: a.label }, token: alice });
    expect(stopped.status).toBe(200);
    expect(stopped.body).toMatchObject({ status: 'stopped', detail: 'stopped by the user' });
    expect(stopped.body.endedAt).toBeTypeOf('string');
    expect(deps.provisioner.stops).toHaveLength(1);
    const connect = await call(app, routes.connect, { params: { ref: a.label }, token: alice });
    expect(connect.status).toBe(409);
    expect(connect.body.error.code).toBe('session_ended');
    // stopping again is harmless
    expect((await call(app, routes.stop, { params: { ref: a.label }, token: alice })).body.status).toBe('stopped');
  });


  it('27: machine tokens work only while the session runs; user tokens are not machine tokens', async () => {
    const { app, token, create } = await appWithMachines();
    const s = await create();
    expect((await call(app, routes.heartbeat, { token, body: { clients: 0, idleMs: 0 } })).status).toBe(401);
    expect((await call(app, routes.heartbeat, { token: s.machineToken, body: { clients: 0, idleMs: 0 } })).status).toBe(200);
    await call(app, routes.stop, { params: { ref: s.label }, token });
    for (const route of [routes.heartbeat, routes.presign]) {
      const res = await call(app, route, { token: s.machineToken, body: route === routes.presign ? { size: 1 } : { clients: 0, idleMs: 0 } });
      expect(res.status).toBe(401);
    }
  });


  it('28: malformed JSON, wrong types and unknown fields → 400 ErrorBody on every JSON route', async () => {
    const { app, token, machineToken } = await errorsSetup();
    const cases: [string, Route<string, z.ZodMiniType, z.ZodMiniType>, unknown[]][] = [
      ['user', routes.refresh, [{}, { refresh_token: 5 }, { refresh_token: 'x', extra: true }]],
      ['user', routes.logout, [{ refresh_token: 1 }, { nope: 1 }, []]],
      ['user', routes.createSession, [
        { agent: 'vim' }, { ttlSec: 1 }, { ttlSec: 'long' }, { cmd: '' }, { unknown: 1 },
        { secrets: { PATH: '/x' } }, { secrets: { 'A B': 'x' } }, { secrets: { CATTY_X: 'x' } }, { secrets: { OK: 1 } }, 'string',
      ]],
      ['machine', routes.presign, [{}, { size: -1 }, { size: 1.5 }, { size: 1, more: 1 }]],
      ['machine', routes.reportSnapshot, [{ key: 'k', size: 1, sha256: 'xyz' }, { key: '', size: 1, sha256: 'a'.repeat(64) }, {}]],
      ['machine', routes.heartbeat, [{ clients: -1, idleMs: 0 }, { clients: 0 }, { clients: 0, idleMs: 0, x: 1 }]],
      ['machine', routes.uploadLogs, [{ data: 5 }, { data: 'a'.repeat(200_000) }]],
      ['machine', routes.exit, [{ code: 'x', signal: null }, { code: 0 }]],
    ];
    for (const [who, route, bodies] of cases) {
      const auth = who === 'user' ? token : machineToken;
      for (const body of [...bodies, '{not json']) {
        const res = await call(app, route, typeof body === 'string' && body.startsWith('{') ? { token: auth, rawBody: body } : { token: auth, body });
        expect(res.status, `${route.path} ${JSON.stringify(body).slice(0, 60)}`).toBe(400);
        expect(ErrorBody.parse(res.body).error.code).toBe('invalid_request');
      }
    }
  });


  it('28: a giant body → 413 JSON before it is parsed', async () => {
    const { app, token } = await errorsSetup();
    const res = await call(app, routes.createSession, { token, rawBody: JSON.stringify({ cmd: 'x'.repeat(MAX_BODY_BYTES + 10) }), headers: { 'content-type': 'application/json' } });
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe('payload_too_large');
  });


  it('28: unknown routes and session references → JSON 404', async () => {
    const { app, token } = await errorsSetup();
    expect((await page(app, 'GET', '/v1/nope', { token })).body.error.code).toBe('not_found');
    expect((await call(app, routes.getSession, { params: { ref: 'x'.repeat(500) }, token })).status).toBe(404);
    expect((await call(app, routes.getSession, { params: { ref: 'sunny-otter-0001' }, token })).status).toBe(404);
  });


  it('28: a 500 never leaks the internal message', async () => {
    const { deps, app, token, s } = await errorsSetup();
    deps.storage.presignGet = async () => {
      throw new Error('ECONNREFUSED secret-internal-host:9000 /var/lib/catty');
    };
    await deps.db.k.insertInto('snapshots').values({ key: 'k', session_id: s.id, expected_size: 1, size: 1, sha256: 'c'.repeat(64), recorded: 1, created_at: '2026-01-01T00:00:00.000Z', agent_key: null, agent_size: null, agent_sha256: null }).execute();
    const res = await call(app, routes.download, { params: { ref: s.label }, token });
    expect(res.status).toBe(500);
    expect(res.body.error.code).toBe('internal');
    expect(JSON.stringify(res.body)).not.toMatch(/ECONNREFUSED|secret-internal|var\/lib/);
    expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f]{16}$/);
  });

  it('29: polling too fast is slowed (slow_down, +5 s each time)', async () => {
    const { deps, app } = await authSetup();
    const codes = DeviceCodeResponse.parse((await call(app, routes.deviceCode)).body);
    const poll = () => call(app, routes.deviceToken, { body: { grant_type: GRANT, device_code: codes.device_code } });
    expect((await poll()).body.error).toBe('authorization_pending');
    deps.clock.ms += 1000;
    const fast = await poll();
    expect(fast.status).toBe(400);
    expect(fast.body.error).toBe('slow_down');
    // interval is now 10 s: 6 s later is still too fast
    deps.clock.ms += 6000;
    expect((await poll()).body.error).toBe('slow_down');
    deps.clock.ms += 15_001;
    expect((await poll()).body.error).toBe('authorization_pending');
  });


  it('29: a denied code never yields a token (access_denied forever)', async () => {
    const { deps, app, user } = await authSetup();
    const codes = DeviceCodeResponse.parse((await call(app, routes.deviceCode)).body);
    expect(await decideDeviceCode(deps, codes.user_code, user.id, false)).toBe('denied');
    expect(await decideDeviceCode(deps, codes.user_code, user.id, true)).toBe('already_used');
    for (let i = 0; i < 3; i++) {
      deps.clock.ms += 60_000;
      const res = await call(app, routes.deviceToken, { body: { grant_type: GRANT, device_code: codes.device_code } });
      expect(res.body.error).toBe('access_denied');
    }
  });


  it('29: codes expire (expired_token; cannot be approved)', async () => {
    const { deps, app, user } = await authSetup();
    const codes = DeviceCodeResponse.parse((await call(app, routes.deviceCode)).body);
    deps.clock.ms += 600_000;
    expect(await decideDeviceCode(deps, codes.user_code, user.id, true)).toBe('expired');
    const res = await call(app, routes.deviceToken, { body: { grant_type: GRANT, device_code: codes.device_code } });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('expired_token');
  });

});

describe('SECURITY.md 26–27 (built catty-api, real runtimes)', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi();
  }, 60_000);
  afterAll(async () => {
    await api?.close();
  });

  it('26: two users on the real API are isolated (get, connect, stop, list)', async () => {
    const bob = await api.addUser('bob@example.com');
    const s = await api.client.call(routes.createSession, { body: { cmd: 'sleep 600', upload: false } });
    await expect(bob.call(routes.getSession, { params: { ref: s.label } })).rejects.toMatchObject({ status: 404 });
    await expect(bob.call(routes.connect, { params: { ref: s.id } })).rejects.toMatchObject({ status: 404 });
    await expect(bob.call(routes.stop, { params: { ref: s.id } })).rejects.toMatchObject({ status: 404 });
    expect((await bob.call(routes.listSessions)).sessions).toEqual([]);
    expect((await api.client.call(routes.getSession, { params: { ref: s.label } })).status).toBe('running');
    await api.client.call(routes.stop, { params: { ref: s.label } });
  });

  it('27: the connect token of a stopped session is refused (API 409, runtime gone)', async () => {
    const s = await api.client.call(routes.createSession, { body: { cmd: 'sleep 600', upload: false } });
    const info = await api.client.call(routes.connect, { params: { ref: s.label } });
    expect(await tryConnect(info)).toBe('open');
    await api.client.call(routes.stop, { params: { ref: s.label } });
    await expect(api.client.call(routes.connect, { params: { ref: s.label } })).rejects.toMatchObject({ status: 409 });
    const after = await tryConnect(info);
    expect(after).not.toBe('open');
    expect(after).not.toBe('timeout');
  });
});
