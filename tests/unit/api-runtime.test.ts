import { describe, expect, it } from 'vitest';
import { DownloadInfo, PresignResponse } from '../../api/contract/schemas.js';
import { reconcile } from '../../api/services/reconcile.js';
import { sweepIdle } from '../../api/services/sweeper.js';
import { appWithMachines, call } from '../helpers/api-fakes.js';
import { routes } from '../../api/contract/routes.js';


const SHA = 'b'.repeat(64);

describe('runtime callbacks', () => {
  it('presign mints a key for the session; record accepts it after a size check; download presigns it', async () => {
    const { deps, app, token, create } = await appWithMachines();
    const s = await create();
    const presign = await call(app, routes.presign, { token: s.machineToken, body: { size: 5 } });
    expect(presign.status).toBe(200);
    const p = PresignResponse.parse(presign.body);
    expect(p.key).toMatch(new RegExp(`^sessions/${s.id}/snapshots/.+\\.tar\\.gz$`));
    expect(p.headers['content-length']).toBe('5');
    // nothing uploaded yet → refused
    expect((await call(app, routes.reportSnapshot, { token: s.machineToken, body: { key: p.key, size: 5, sha256: SHA } })).status).toBe(400);
    deps.storage.objects.set(p.key, Buffer.from('hello'));
    const rec = await call(app, routes.reportSnapshot, { token: s.machineToken, body: { key: p.key, size: 5, sha256: SHA } });
    expect(rec.body).toEqual({ ok: true });
    const dl = DownloadInfo.parse((await call(app, routes.download, { params: { ref: s.label }, token })).body);
    expect(dl).toMatchObject({ size: 5, sha256: SHA, expiresIn: 300 });
    expect(dl.url).toContain(p.key);
    // twice → 409
    expect((await call(app, routes.reportSnapshot, { token: s.machineToken, body: { key: p.key, size: 5, sha256: SHA } })).status).toBe(409);
  });

  it('refuses forged reports: a key not minted, minted for another session, or the wrong size', async () => {
    const { deps, app, create } = await appWithMachines();
    const a = await create();
    const b = await create();
    const pa = PresignResponse.parse((await call(app, routes.presign, { token: a.machineToken, body: { size: 5 } })).body);
    deps.storage.objects.set(pa.key, Buffer.from('hello'));
    const forged = [
      { token: a.machineToken, body: { key: `sessions/${a.id}/snapshots/made-up.tar.gz`, size: 5, sha256: SHA } },
      { token: b.machineToken, body: { key: pa.key, size: 5, sha256: SHA } },
      { token: a.machineToken, body: { key: pa.key, size: 6, sha256: SHA } },
    ];
    for (const f of forged) {
      const res = await call(app, routes.reportSnapshot, f);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('invalid_request');
    }
    // an object whose real size differs from the presigned size
    const p2 = PresignResponse.parse((await call(app, routes.presign, { token: a.machineToken, body: { size: 3 } })).body);
    deps.storage.objects.set(p2.key, Buffer.from('toolong'));
    expect((await call(app, routes.reportSnapshot, { token: a.machineToken, body: { key: p2.key, size: 3, sha256: SHA } })).status).toBe(400);
    const recorded = { n: (await deps.db.k.selectFrom('snapshots').select('key').where('recorded', '=', 1).execute()).length };
    expect(recorded.n).toBe(0);
  });

  it('keeps the newest N snapshots and deletes older objects', async () => {
    const { deps, app, create } = await appWithMachines({ snapshotsKept: 2 });
    const s = await create();
    const keys: string[] = [];
    for (let i = 0; i < 4; i++) {
      deps.clock.ms += 1000;
      const p = PresignResponse.parse((await call(app, routes.presign, { token: s.machineToken, body: { size: 1 } })).body);
      deps.storage.objects.set(p.key, Buffer.from('x'));
      expect((await call(app, routes.reportSnapshot, { token: s.machineToken, body: { key: p.key, size: 1, sha256: SHA } })).status).toBe(200);
      keys.push(p.key);
    }
    expect([...deps.storage.objects.keys()].sort()).toEqual(keys.slice(2).sort());
    expect(deps.storage.deleted).toEqual(keys.slice(0, 2));
  });

  it('exit records the code, stores final logs and ends the session', async () => {
    const { deps, app, token, create } = await appWithMachines();
    const s = await create();
    const data = Buffer.from('last words\r\n').toString('base64');
    expect((await call(app, routes.uploadLogs, { token: s.machineToken, body: { data } })).status).toBe(200);
    expect((await call(app, routes.exit, { token: s.machineToken, body: { code: 3, signal: null } })).status).toBe(200);
    await Promise.all(deps.background);
    const got = await call(app, routes.getSession, { params: { ref: s.label }, token });
    expect(got.body).toMatchObject({ status: 'stopped', exitCode: 3, detail: 'agent exited with code 3' });
    expect((await call(app, routes.logs, { params: { ref: s.label }, token })).body.data).toBe(data);
  });

  it('heartbeats keep a session alive; the sweeper times out idle ones', async () => {
    const { deps, app, token, create } = await appWithMachines();
    const busy = await create({ ttlSec: 60 });
    const idle = await create({ ttlSec: 60 });
    deps.clock.ms += 50_000;
    await call(app, routes.heartbeat, { token: busy.machineToken, body: { clients: 1, idleMs: 40_000 } });
    // idle: agent output 45 s ago, nobody attached → activity stays at the start
    await call(app, routes.heartbeat, { token: idle.machineToken, body: { clients: 0, idleMs: 50_000 } });
    deps.clock.ms += 20_000;
    expect(await sweepIdle(deps)).toEqual([idle.id]);
    await Promise.all(deps.background);
    expect((await call(app, routes.getSession, { params: { ref: idle.label }, token })).body).toMatchObject({ status: 'timed_out' });
    expect((await call(app, routes.getSession, { params: { ref: busy.label }, token })).body).toMatchObject({ status: 'running' });
  });

  it('reconcile marks sessions whose machine vanished and stops orphan machines', async () => {
    const { deps, app, token, create } = await appWithMachines();
    const kept = await create();
    const lost = await create();
    const lostMachine = [...deps.provisioner.machines.entries()].find(([, m]) => m.spec.sessionId === lost.id)!;
    await deps.provisioner.stop(lostMachine[0]);
    const orphan = await deps.provisioner.start({ ...lostMachine[1].spec, sessionId: 'nobody' });
    const report = await reconcile(deps);
    expect(report).toMatchObject({ kept: [kept.id], lost: [lost.id], orphansStopped: [orphan.machineId] });
    expect((await call(app, routes.getSession, { params: { ref: lost.label }, token })).body).toMatchObject({ status: 'stopped', detail: 'machine lost' });
    expect(await deps.provisioner.isAlive(orphan.machineId)).toBe(false);
  });
});
