import { describe, expect, it } from 'vitest';
import { ConnectInfo, CreatedSession, Session, SessionList } from '../../api/contract/schemas.js';
import { LABEL_PATTERN } from '../../api/services/labels.js';
import { appWithTwoUsers, call } from '../helpers/api-fakes.js';
import { routes } from '../../api/contract/routes.js';
import { waitFor } from '../helpers/wait.js';


describe('sessions', () => {
  it('creates a running session with a label, connect info and the right agent command', async () => {
    const { deps, app, alice } = await appWithTwoUsers();
    const res = await call(app, routes.createSession, { token: alice, body: { agent: 'shell', secrets: { API_KEY: 'sekrit-value' }, ttlSec: 600 } });
    expect(res.status).toBe(201);
    const created = CreatedSession.parse(res.body);
    expect(created.label).toMatch(LABEL_PATTERN);
    expect(created).toMatchObject({ status: 'running', agent: 'shell', ttlSec: 600, provisioner: 'local' });
    const [machine] = [...deps.provisioner.machines.values()];
    expect(created.connectUrl).toBe(machine!.url);
    expect(machine!.spec.connectToken).toBe(created.connectToken);
    expect(machine!.spec.agentCmd[0]).toMatch(/^(bash|sh)$/);
    expect(machine!.spec.agentEnv).toEqual({ API_KEY: 'sekrit-value' });
    // the secret never reaches the DB; the connect token is stored sealed, not in clear
    const dump = JSON.stringify(await deps.db.k.selectFrom('sessions').selectAll().execute()) + JSON.stringify(await deps.db.k.selectFrom('tokens').selectAll().execute());
    expect(dump).not.toContain('sekrit-value');
    expect(dump).not.toContain(created.connectToken);
    expect(dump).not.toContain(machine!.spec.machineToken);
  });

  it('maps agent and cmd to CATTY_AGENT_CMD', async () => {
    const { deps, app, alice } = await appWithTwoUsers();
    await call(app, routes.createSession, { token: alice, body: {} });
    await call(app, routes.createSession, { token: alice, body: { cmd: 'echo hi; exit 3' } });
    const cmds = [...deps.provisioner.machines.values()].map((m) => m.spec.agentCmd);
    expect(cmds).toEqual([['claude', '--dangerously-skip-permissions'], ['sh', '-c', 'echo hi; exit 3']]);
  });

  it('lists own sessions newest first, gets by id or label, connect hands the token out again', async () => {
    const { deps, app, alice } = await appWithTwoUsers();
    const a = CreatedSession.parse((await call(app, routes.createSession, { token: alice, body: {} })).body);
    deps.clock.ms += 1000;
    const b = CreatedSession.parse((await call(app, routes.createSession, { token: alice, body: {} })).body);
    const list = SessionList.parse((await call(app, routes.listSessions, { token: alice })).body);
    expect(list.sessions.map((s) => s.label)).toEqual([b.label, a.label]);
    expect(Session.parse((await call(app, routes.getSession, { params: { ref: a.label }, token: alice })).body).id).toBe(a.id);
    expect(Session.parse((await call(app, routes.getSession, { params: { ref: a.id }, token: alice })).body).label).toBe(a.label);
    const info = ConnectInfo.parse((await call(app, routes.connect, { params: { ref: a.label }, token: alice })).body);
    expect(info).toEqual({ connectUrl: a.connectUrl, connectToken: a.connectToken });
  });

  it('enforces the per-user limit with a clear error, and counts only live sessions', async () => {
    const { app, alice, bob } = await appWithTwoUsers({ maxSessionsPerUser: 2 });
    const first = CreatedSession.parse((await call(app, routes.createSession, { token: alice, body: {} })).body);
    await call(app, routes.createSession, { token: alice, body: {} });
    const third = await call(app, routes.createSession, { token: alice, body: {} });
    expect(third.status).toBe(429);
    expect(third.body.error.code).toBe('limit_reached');
    expect(third.body.error.message).toMatch(/2 running sessions/);
    expect((await call(app, routes.createSession, { token: bob, body: {} })).status).toBe(201);
    await call(app, routes.stop, { params: { ref: first.id }, token: alice });
    expect((await call(app, routes.createSession, { token: alice, body: {} })).status).toBe(201);
  });

  it('a machine that never becomes healthy is stopped and the session marked failed', async () => {
    const { deps, app, alice } = await appWithTwoUsers({ healthTimeoutMs: 500 });
    deps.provisioner.unhealthy = true;
    const res = await call(app, routes.createSession, { token: alice, body: {} });
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe('provision_failed');
    expect(deps.provisioner.stops).toHaveLength(1);
    const [s] = SessionList.parse((await call(app, routes.listSessions, { token: alice })).body).sessions;
    expect(s).toMatchObject({ status: 'failed' });
    expect(s!.detail).toMatch(/did not become healthy/);
  });

  it('an agent that exits before /healthz is seen ends the session: created as stopped, at once', async () => {
    const { deps, app, alice } = await appWithTwoUsers({ healthTimeoutMs: 20_000 });
    deps.provisioner.unhealthy = true;
    const started = Date.now();
    const creating = call(app, routes.createSession, { token: alice, body: { cmd: 'exit 3', upload: false } });
    await waitFor(() => deps.provisioner.machines.size > 0, 'the machine to be created');
    const [machine] = deps.provisioner.machines.values();
    const exited = await call(app, routes.exit, { token: machine!.spec.machineToken, body: { code: 3, signal: null } });
    expect(exited.status).toBe(200);
    const res = await creating;
    expect(res.status).toBe(201);
    expect(CreatedSession.parse(res.body)).toMatchObject({ status: 'stopped', exitCode: 3 });
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('logs come from the running runtime, and from the stored final logs after the end', async () => {
    const { deps, app, alice } = await appWithTwoUsers();
    const a = CreatedSession.parse((await call(app, routes.createSession, { token: alice, body: {} })).body);
    const live = await call(app, routes.logs, { params: { ref: a.label }, token: alice });
    expect(Buffer.from(live.body.data, 'base64').toString()).toBe(`hello from ${a.label}\r\n`);
    await deps.db.k.updateTable('sessions').set({ final_logs: Buffer.from('bye\n').toString('base64') }).where('id', '=', a.id).execute();
    await call(app, routes.stop, { params: { ref: a.label }, token: alice });
    const ended = await call(app, routes.logs, { params: { ref: a.label }, token: alice });
    expect(Buffer.from(ended.body.data, 'base64').toString()).toBe('bye\n');
  });

  it('delete stops the machine, removes snapshot objects and hides the session', async () => {
    const { deps, app, alice } = await appWithTwoUsers();
    const a = CreatedSession.parse((await call(app, routes.createSession, { token: alice, body: {} })).body);
    await deps.db.k.insertInto('snapshots').values({ key: 'k1', session_id: a.id, expected_size: 3, size: 3, sha256: 'a'.repeat(64), recorded: 1, created_at: '2026-01-01T00:00:00.000Z', agent_key: null, agent_size: null, agent_sha256: null }).execute();
    deps.storage.objects.set('k1', Buffer.from('abc'));
    const res = await call(app, routes.deleteSession, { params: { ref: a.label }, token: alice });
    expect(res.body).toEqual({ ok: true });
    expect(deps.storage.objects.has('k1')).toBe(false);
    expect(deps.provisioner.stops).toHaveLength(1);
    expect((await call(app, routes.getSession, { params: { ref: a.label }, token: alice })).status).toBe(404);
    expect(SessionList.parse((await call(app, routes.listSessions, { token: alice })).body).sessions).toEqual([]);
  });

  it('download is 404 no_snapshot until one is recorded', async () => {
    const { app, alice } = await appWithTwoUsers();
    const a = CreatedSession.parse((await call(app, routes.createSession, { token: alice, body: {} })).body);
    const res = await call(app, routes.download, { params: { ref: a.label }, token: alice });
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('no_snapshot');
  });
});
