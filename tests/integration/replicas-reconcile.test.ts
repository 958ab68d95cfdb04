/**
 * reconcile() with replicas (CATTY_MODE=shared; api/services/reconcile.ts), on the real database
 * (SQLite, or Postgres with CATTY_TEST_DATABASE=postgres) and the fake provisioner: another
 * replica's create in flight — its row `provisioning`, its machine started but not yet recorded —
 * is left alone (its machine is not an orphan); a `provisioning` row older than any create can
 * take fails; a running session whose machine is gone is lost — unless another replica is stopping
 * it; a machine no live session owns is stopped. One API (single mode) still fails every `provisioning` row at start: nothing it
 * started before can still be starting, and no stop it claimed before can still be running.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { stopAndEnd } from '../../api/services/lifecycle.js';
import { createTimeoutMs, reconcile, reconcileAtStart } from '../../api/services/reconcile.js';
import { claimStop } from '../../api/state/leases.js';
import { iso } from '../../api/state/db.js';
import { insertSession, sessionById } from '../../api/state/sessions.js';
import { appWithMachines } from '../helpers/api-fakes.js';

async function scene(mode: 'single' | 'shared') {
  const { deps, create } = await appWithMachines({ mode });
  const kept = await create();
  const lost = await create();
  const owner = (await sessionById(deps.db, kept.id))!.owner_id;
  const lostMachine = [...deps.provisioner.machines.entries()].find(([, m]) => m.spec.sessionId === lost.id)!;
  await deps.provisioner.stop(lostMachine[0]);
  const provisioning = async (ageMs: number) => {
    const id = randomBytes(12).toString('hex');
    const at = iso(deps.now() - ageMs);
    await insertSession(deps.db, { id, owner_id: owner, label: `p-${id}`, status: 'provisioning', agent: 'shell', provisioner: 'local', connect_token_enc: null, ttl_sec: 60, created_at: at, last_activity_at: at });
    // Its machine is up; the replica creating it has not recorded its id yet.
    const machine = await deps.provisioner.start({ ...lostMachine[1].spec, sessionId: id });
    return { id, machineId: machine.machineId };
  };
  const inFlight = await provisioning(1000);
  const stale = await provisioning(createTimeoutMs(deps) + 1000);
  const orphan = await deps.provisioner.start({ ...lostMachine[1].spec, sessionId: 'nobody' });
  return { deps, kept, lost, inFlight, stale, orphan };
}

describe('reconcile with replicas', () => {
  it('shared mode: leaves another replica’s create in flight alone; fails only a stale one; marks lost; stops orphans', async () => {
    const { deps, kept, lost, inFlight, stale, orphan } = await scene('shared');
    const report = await reconcile(deps);
    await Promise.all(deps.background);
    expect(report.kept).toEqual([kept.id]);
    expect(report.lost).toEqual([lost.id]);
    expect(report.failed).toEqual([stale.id]);
    expect(report.orphansStopped.sort()).toEqual([orphan.machineId, stale.machineId].sort());
    expect((await sessionById(deps.db, inFlight.id))?.status).toBe('provisioning');
    expect(await deps.provisioner.isAlive(inFlight.machineId)).toBe(true);
    expect((await sessionById(deps.db, stale.id))).toMatchObject({ status: 'failed' });
    expect((await sessionById(deps.db, lost.id))).toMatchObject({ status: 'stopped', detail: 'machine lost' });
    expect(await deps.provisioner.isAlive(orphan.machineId)).toBe(false);
    // Each replica restores its host's egress at its own start, not in the lease holder's pass.
    expect(deps.egress.restored).toEqual([]);
  });

  it('shared mode: a session another replica is stopping (its machine already gone) is left to it, not lost', async () => {
    const { deps, create } = await appWithMachines({ mode: 'shared' });
    const s = await create();
    // Another replica claimed the stop and its machine is gone; the session ends when it records it.
    expect(await claimStop(deps.db, s.id, deps.now(), 60_000)).toBe(true);
    const [machineId] = [...deps.provisioner.machines.entries()].find(([, m]) => m.spec.sessionId === s.id)!;
    await deps.provisioner.stop(machineId);
    const report = await reconcile(deps);
    expect(report.lost).toEqual([]);
    expect(await sessionById(deps.db, s.id)).toMatchObject({ status: 'running' });
  });

  it('single mode: one API at start fails every provisioning row (it started them), as before', async () => {
    const { deps, kept, inFlight, stale } = await scene('single');
    const report = await reconcile(deps);
    expect(report.kept).toEqual([kept.id]);
    expect(report.failed.sort()).toEqual([inFlight.id, stale.id].sort());
    expect(await deps.provisioner.isAlive(inFlight.machineId)).toBe(false);
  });

  it('single mode: a stop claimed by an API that died is forgotten at the next start; the next stop stops', async () => {
    const { deps, create } = await appWithMachines({ mode: 'single' });
    const s = await create();
    // The previous process claimed the stop, then died before the machine was gone.
    expect(await claimStop(deps.db, s.id, deps.now(), 60_000)).toBe(true);
    await reconcileAtStart(deps);
    await stopAndEnd(deps, s.id, { status: 'stopped', detail: 'stopped by the user' });
    expect(await sessionById(deps.db, s.id)).toMatchObject({ status: 'stopped', detail: 'stopped by the user' });
  }, 10_000);
});
