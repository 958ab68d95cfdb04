/**
 * The agent's state part of a snapshot at the API (issue 23, item 2): minted apart from the
 * workspace snapshots (a download never serves it), reported with its workspace snapshot, and
 * refused when forged — a key minted for another session, a workspace key passed as one, a size
 * other than presigned or stored; retention deletes it with its snapshot.
 */
import { describe, expect, it } from 'vitest';
import { DownloadInfo, PresignResponse } from '../../api/contract/schemas.js';
import { routes } from '../../api/contract/routes.js';
import { appWithMachines, call } from '../helpers/api-fakes.js';

const SHA = 'c'.repeat(64);

describe('agent state beside a snapshot', () => {
  it('is stored as its own object, recorded on its snapshot, never the download, and goes with it', async () => {
    const { deps, app, token, create } = await appWithMachines({ snapshotsKept: 1 });
    const s = await create();
    const presign = async (size: number, part?: 'agent') => PresignResponse.parse((await call(app, routes.presign, { token: s.machineToken, body: part ? { size, part } : { size } })).body);
    const work = await presign(5);
    const agent = await presign(3, 'agent');
    expect(agent.key).toMatch(new RegExp(`^sessions/${s.id}/snapshots/.+\\.agent\\.tar\\.gz$`));
    deps.storage.objects.set(work.key, Buffer.from('hello'));
    deps.storage.objects.set(agent.key, Buffer.from('abc'));
    const report = { key: work.key, size: 5, sha256: SHA, agent: { key: agent.key, size: 3, sha256: SHA } };
    expect((await call(app, routes.reportSnapshot, { token: s.machineToken, body: report })).body).toEqual({ ok: true });
    const row = await deps.db.k.selectFrom('snapshots').select(['agent_key', 'agent_size']).where('key', '=', work.key).executeTakeFirst();
    expect(row).toEqual({ agent_key: agent.key, agent_size: 3 });
    const dl = DownloadInfo.parse((await call(app, routes.download, { params: { ref: s.label }, token })).body);
    expect(dl.url).toContain(work.key);
    // The next snapshot replaces it (one kept): both its objects go.
    deps.clock.ms += 1000;
    const next = await presign(5);
    deps.storage.objects.set(next.key, Buffer.from('again'));
    expect((await call(app, routes.reportSnapshot, { token: s.machineToken, body: { key: next.key, size: 5, sha256: SHA } })).status).toBe(200);
    expect(deps.storage.objects.has(work.key)).toBe(false);
    expect(deps.storage.objects.has(agent.key)).toBe(false);
  });

  it('refuses a forged agent part: another session\'s key, a workspace key, a wrong or unstored size', async () => {
    const { deps, app, create } = await appWithMachines();
    const a = await create();
    const b = await create();
    const presign = async (token: string, size: number, part?: 'agent') => PresignResponse.parse((await call(app, routes.presign, { token, body: part ? { size, part } : { size } })).body);
    const work = await presign(a.machineToken, 5);
    deps.storage.objects.set(work.key, Buffer.from('hello'));
    const othersAgent = await presign(b.machineToken, 3, 'agent');
    deps.storage.objects.set(othersAgent.key, Buffer.from('abc'));
    const ownAgent = await presign(a.machineToken, 3, 'agent');
    const otherWork = await presign(a.machineToken, 3);
    deps.storage.objects.set(otherWork.key, Buffer.from('xyz'));
    const forged = [
      { key: othersAgent.key, size: 3, sha256: SHA },
      { key: otherWork.key, size: 3, sha256: SHA },
      { key: ownAgent.key, size: 4, sha256: SHA },
      // minted, but nothing stored under it
      { key: ownAgent.key, size: 3, sha256: SHA },
    ];
    for (const agent of forged) {
      const res = await call(app, routes.reportSnapshot, { token: a.machineToken, body: { key: work.key, size: 5, sha256: SHA, agent } });
      expect(res.status, JSON.stringify(agent)).toBe(400);
    }
    expect(await deps.db.k.selectFrom('snapshots').select('key').where('recorded', '=', 1).execute()).toEqual([]);
  });
});
