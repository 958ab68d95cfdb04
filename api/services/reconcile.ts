/**
 * On API start: the records and the machines must agree. A session marked live whose machine is
 * gone ended while we were away (`stopped`, "machine lost"); one still `provisioning` never got
 * its health check (`failed`, machine stopped); a machine no live session owns is stopped. The
 * sessions kept keep their egress listeners in catty-node (or get them again, at the paths their
 * machines bound, from a node started anew); the node closes every other session it holds.
 */
import type { Deps } from '../deps.js';
import type { NetworkPolicy } from '../../session-runtime/wire/network-policy.js';
import { liveSessions, sessionPolicy } from '../state/sessions.js';
import { markEnded, stopAndEnd } from './lifecycle.js';

export interface ReconcileReport {
  kept: string[];
  lost: string[];
  failed: string[];
  orphansStopped: string[];
}

export async function reconcile(deps: Deps): Promise<ReconcileReport> {
  const report: ReconcileReport = { kept: [], lost: [], failed: [], orphansStopped: [] };
  const machines = await deps.provisioner.list();
  const live = await liveSessions(deps.db);
  const owned = new Set<string>();
  const egress: Array<{ id: string; policy: NetworkPolicy; machineUid?: number }> = [];
  for (const s of live) {
    if (s.status === 'provisioning') {
      await stopAndEnd(deps, s.id, { status: 'failed', detail: 'the API restarted while the session was starting', graceMs: 2000 });
      report.failed.push(s.id);
      continue;
    }
    if (s.machine_id && (await deps.provisioner.isAlive(s.machine_id))) {
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
  await deps.egress.restore(egress);
  for (const m of machines) {
    if (owned.has(m.machineId)) continue;
    deps.logger.warn({ machineId: m.machineId, sessionId: m.sessionId }, 'stopping a machine no running session owns');
    await deps.provisioner.stop(m.machineId, { graceMs: deps.config.stopGraceMs }).catch((err: unknown) => deps.logger.error({ err }, 'stopping an orphan failed'));
    report.orphansStopped.push(m.machineId);
  }
  deps.logger.info({ kept: report.kept.length, lost: report.lost.length, failed: report.failed.length, orphans: report.orphansStopped.length }, 'reconciled sessions with machines');
  return report;
}
