/**
 * Races that two API replicas (or two requests on one) could win twice, on both databases:
 * the per-user session limit is counted under a lock, and a device code is turned into tokens
 * once however many polls arrive together.
 */
import { describe, expect, it } from 'vitest';
import { createApp } from '../../api/app.js';
import { decideDeviceCode } from '../../api/auth/device.js';
import { routes } from '../../api/contract/routes.js';
import { DeviceCodeResponse } from '../../api/contract/schemas.js';
import { createUser } from '../../api/services/users.js';
import { startTestApi } from '../helpers/api.js';
import { call, makeTestDeps } from '../helpers/api-fakes.js';
import { onCleanup } from '../helpers/cleanup.js';

const GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

describe.each(['sqlite', 'postgres'] as const)('on %s', (database) => {
  it('twenty creates at once against a limit of 5 through the real API: exactly 5 start, 15 are refused', async () => {
    const api = await startTestApi({ database, env: { CATTY_MAX_SESSIONS_PER_USER: '5' } });
    onCleanup(() => api.close());
    const sends = await Promise.all(Array.from({ length: 20 }, () => api.client.send(routes.createSession, { body: { cmd: 'sleep 600', upload: false } })));
    const statuses = sends.map((s) => s.status).sort();
    expect(statuses.filter((s) => s === 200 || s === 201)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(15);
    for (const s of sends.filter((r) => r.status === 429)) expect((s.json as { error: { code: string } }).error.code).toBe('limit_reached');
    const { sessions } = await api.client.call(routes.listSessions);
    expect(sessions.filter((s) => s.status === 'running' || s.status === 'provisioning')).toHaveLength(5);
  }, 120_000);

  it('an approved device code polled ten times at once gives tokens once', async () => {
    const deps = await makeTestDeps({ deviceCodeIntervalSec: 1 }, database);
    const app = createApp(deps);
    const user = await createUser(deps, 'ada@example.com', 'correct horse battery');
    const codes = DeviceCodeResponse.parse((await call(app, routes.deviceCode)).body);
    expect(await decideDeviceCode(deps, codes.user_code, user.id, true)).toBe('approved');
    const polls = await Promise.all(Array.from({ length: 10 }, () => call(app, routes.deviceToken, { body: { grant_type: GRANT, device_code: codes.device_code } })));
    expect(polls.filter((p) => p.status === 200)).toHaveLength(1);
    for (const p of polls.filter((r) => r.status !== 200)) expect(p.body.error).toBe('invalid_grant');
    // Two decisions at once on one pending code: one of them counts.
    const other = DeviceCodeResponse.parse((await call(app, routes.deviceCode)).body);
    const decisions = await Promise.all([true, false, true, false].map((approve) => decideDeviceCode(deps, other.user_code, user.id, approve)));
    expect(decisions.filter((d) => d === 'approved' || d === 'denied')).toHaveLength(1);
    expect(decisions.filter((d) => d === 'already_used')).toHaveLength(3);
    await deps.db.close();
  });
});
