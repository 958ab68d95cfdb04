/**
 * The records and the machines must agree. A session marked running whose machine is gone ended
 * while nobody looked (`stopped`, "machine lost"); one still `provisioning` that can no longer be
 * starting is `failed` (machine stopped); a machine no live session owns is stopped.
 *
 * One API (single mode) does this once, at start: nothing it started before can still be
 * starting, and it restores the egress listeners of the sessions it keeps. Replicas (shared mode)
 * share the machines, and another replica may be starting a session right now: only the holder
 * of the background lease (sweeper.ts) reconciles, at each tick; a `provisioning` row fails only
 * once older than any create can take; sessions are read before machines are listed (a machine
 * listed was started before), and a machine is an orphan only if its session, read again, is not
 * live; a session another replica is stopping is left to it. Every replica restores, at its
 * start, the egress of every running session (one catty-node per host serves all of them).
 */
import type { Deps } from '../deps.js';
import type { NetworkPolicy } from '../../session-runtime/wire/network-policy.js';
import { LIVE_STATUSES, liveSessions, sessionById, sessionPolicy } from '../state/sessions.js';
import { clearAllStopClaims, stopsInProgress } from '../state/leases.js';
import { markEnded, stopAndEnd, stopClaimStaleMs, track } from './lifecycle.js';

export interface ReconcileReport {
  kept: string[];
  lost: string[];
  failed: string[];
  orphansStopped: string[];
}

/** The longest a create (or resume) can take on any replica: the machine's start and its
 * health check each get healthTimeoutMs, then the upload; a minute more for good measure. */
export const createTimeoutMs = (deps: Pick<Deps, 'config'>): number => 2 * deps.config.healthTimeoutMs + 60_000;

export async function reconcile(deps: Deps): Promise<ReconcileReport> {
  const shared = deps.config.mode === 'shared';
  const report: ReconcileReport = { kept: [], lost: [], failed: [], orphansStopped: [] };
  const live = await liveSessions(deps.db);
  const machines = await deps.provisioner.list();
  const listed = new Set(machines.filter((m) => m.alive).map((m) => m.machineId));
  // A replica stopping a session keeps it running until its machine is gone: not lost. Read
  // after the machines: a stop that ended a machine before list() was claimed before this read.
  const stopping = shared ? await stopsInProgress(deps.db, deps.now(), stopClaimStaleMs(deps)) : new Set<string>();
  const owned = new Set<string>();
  const egress: Array<{ id: string; policy: NetworkPolicy; machineUid?: number }> = [];
  // Single mode waits for its stops (it is starting); a replica's tick must not (its lease).
  const pending: Promise<void>[] = [];
  for (const s of live) {
    if (stopping.has(s.id)) {
      if (s.machine_id) owned.add(s.machine_id);
      continue;
    }
    if (s.status === 'provisioning') {
      const ageMs = deps.now() - Date.parse(s.last_activity_at);
      if (shared && ageMs < createTimeoutMs(deps)) {
        if (s.machine_id) owned.add(s.machine_id);
        continue;
      }
      const detail = shared ? `the session did not start within ${Math.round(ageMs / 1000)} s (its API replica stopped?)` : 'the API restarted while the session was starting';
      pending.push(stopAndEnd(deps, s.id, { status: 'failed', detail, graceMs: 2000 }));
      report.failed.push(s.id);
      continue;
    }
    if (s.machine_id && (listed.has(s.machine_id) || (await deps.provisioner.isAlive(s.machine_id)))) {
      owned.add(s.machine_id);
      report.kept.push(s.id);
      const policy = sessionPolicy(s);
      // A Swarm session's proxy is its node's: nothing to open here.
      if (policy && !deps.provisioner.egressAtNode) egress.push({ id: s.id, policy, machineUid: deps.provisioner.machineUid });
    } else {
      await markEnded(deps, s.id, { status: 'stopped', detail: 'machine lost' });
      report.lost.push(s.id);
    }
  }
  if (!shared) await deps.egress.restore(egress);
  for (const m of machines) {
    if (owned.has(m.machineId)) continue;
    // Started after the sessions were read (another replica's create): its session is live now.
    // (Not one failed above: its machine, never recorded on the row, goes here.)
    if (shared && m.sessionId && !report.failed.includes(m.sessionId)) {
      const now = await sessionById(deps.db, m.sessionId);
      if (now && LIVE_STATUSES.includes(now.status)) continue;
    }
    deps.logger.warn({ machineId: m.machineId, sessionId: m.sessionId }, 'stopping a machine no running session owns');
    pending.push(deps.provisioner.stop(m.machineId, { graceMs: deps.config.stopGraceMs }).catch((err: unknown) => deps.logger.error({ err }, 'stopping an orphan failed')));
    report.orphansStopped.push(m.machineId);
  }
  if (shared) for (const p of pending) track(deps, p);
  else await Promise.all(pending);
  if (!shared || report.lost.length + report.failed.length + report.orphansStopped.length > 0) {
    deps.logger.info({ kept: report.kept.length, lost: report.lost.length, failed: report.failed.length, orphans: report.orphansStopped.length }, 'reconciled sessions with machines');
  }
  return report;
}

/** A replica's start (shared mode): this host's catty-node listens for every live session —
 * those starting on another replica too, whose listeners the node must not close. */
export async function restoreEgress(deps: Deps): Promise<void> {
  if (deps.provisioner.egressAtNode) return;
  const egress: Array<{ id: string; policy: NetworkPolicy; machineUid?: number }> = [];
  for (const s of await liveSessions(deps.db)) {
    const policy = sessionPolicy(s);
    if (policy) egress.push({ id: s.id, policy, machineUid: deps.provisioner.machineUid });
  }
  await deps.egress.restore(egress);
}

/** At start: one API reconciles now; a replica restores its host's egress listeners, and
 * reconciles when it holds the background lease (its sweeper's first tick, at once). */
export async function reconcileAtStart(deps: Deps): Promise<void> {
  if (deps.config.mode === 'shared') {
    await restoreEgress(deps);
    return;
  }
  // The only API: a stop claimed before it started died with the process that claimed it.
  await clearAllStopClaims(deps.db);
  await reconcile(deps);
}
