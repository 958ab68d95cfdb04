import { describe, expect, it } from 'vitest';
import { createApp, MAX_BODY_BYTES } from '../../api/app.js';
import { issueTokenPair } from '../../api/auth/tokens.js';
import { ApiError, CreatedSession } from '../../api/contract.js';
import { createUser } from '../../api/services/users.js';
import { call, makeTestDeps } from '../helpers/api-fakes.js';

async function setup() {
  const deps = makeTestDeps();
  const app = createApp(deps);
  const user = await createUser(deps, 'alice@example.com', 'password-alice');
  const token = issueTokenPair(deps, user.id).access_token;
  const s = CreatedSession.parse((await call(app, 'POST', '/v1/sessions', { token, body: {} })).body);
  const machineToken = [...deps.provisioner.machines.values()][0]!.spec.machineToken;
  return { deps, app, token, machineToken, s };
}

describe('API errors', () => {
  it('every JSON route answers 400 ApiError for malformed JSON, wrong types and unknown fields', async () => {
    const { app, token, machineToken } = await setup();
    const cases: [string, string, string, unknown[]][] = [
      ['user', 'POST', '/v1/auth/refresh', [{}, { refresh_token: 5 }, { refresh_token: 'x', extra: true }]],
      ['user', 'POST', '/v1/auth/logout', [{ refresh_token: 1 }, { nope: 1 }, []]],
      ['user', 'POST', '/v1/sessions', [
        { agent: 'vim' }, { ttlSec: 1 }, { ttlSec: 'long' }, { cmd: '' }, { unknown: 1 },
        { secrets: { PATH: '/x' } }, { secrets: { 'A B': 'x' } }, { secrets: { CATTY_X: 'x' } }, { secrets: { OK: 1 } }, 'string',
      ]],
      ['machine', 'POST', '/v1/runtime/snapshots/presign', [{}, { size: -1 }, { size: 1.5 }, { size: 1, more: 1 }]],
      ['machine', 'POST', '/v1/runtime/snapshots', [{ key: 'k', size: 1, sha256: 'xyz' }, { key: '', size: 1, sha256: 'a'.repeat(64) }, {}]],
      ['machine', 'POST', '/v1/runtime/heartbeat', [{ clients: -1, idleMs: 0 }, { clients: 0 }, { clients: 0, idleMs: 0, x: 1 }]],
      ['machine', 'POST', '/v1/runtime/logs', [{ data: 5 }, { data: 'a'.repeat(200_000) }]],
      ['machine', 'POST', '/v1/runtime/exit', [{ code: 'x', signal: null }, { code: 0 }]],
    ];
    for (const [who, method, path, bodies] of cases) {
      const auth = who === 'user' ? token : machineToken;
      for (const body of [...bodies, '{not json']) {
        const res = await call(app, method, path, typeof body === 'string' && body.startsWith('{') ? { token: auth, rawBody: body } : { token: auth, body });
        expect(res.status, `${path} ${JSON.stringify(body).slice(0, 60)}`).toBe(400);
        expect(ApiError.parse(res.body).error.code).toBe('invalid_request');
      }
    }
  });

  it('an oversized body is 413 JSON before it is parsed', async () => {
    const { app, token } = await setup();
    const res = await call(app, 'POST', '/v1/sessions', { token, rawBody: JSON.stringify({ cmd: 'x'.repeat(MAX_BODY_BYTES + 10) }), headers: { 'content-type': 'application/json' } });
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe('payload_too_large');
  });

  it('unknown routes and session references are JSON 404s', async () => {
    const { app, token } = await setup();
    expect((await call(app, 'GET', '/v1/nope', { token })).body.error.code).toBe('not_found');
    expect((await call(app, 'GET', `/v1/sessions/${'x'.repeat(500)}`, { token })).status).toBe(404);
    expect((await call(app, 'GET', '/v1/sessions/sunny-otter-0001', { token })).status).toBe(404);
  });

  it('a 500 never shows the internal message', async () => {
    const { deps, app, token, s } = await setup();
    deps.storage.presignGet = async () => {
      throw new Error('ECONNREFUSED secret-internal-host:9000 /var/lib/catty');
    };
    deps.db.prepare("INSERT INTO snapshots (key, session_id, expected_size, size, sha256, recorded, created_at) VALUES ('k', ?, 1, 1, ?, 1, '2026-01-01T00:00:00.000Z')").run(s.id, 'c'.repeat(64));
    const res = await call(app, 'GET', `/v1/sessions/${s.label}/download`, { token });
    expect(res.status).toBe(500);
    expect(res.body.error.code).toBe('internal');
    expect(JSON.stringify(res.body)).not.toMatch(/ECONNREFUSED|secret-internal|var\/lib/);
    expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f]{16}$/);
  });
});
