/**
 * Ending sessions: stop (user), timeout (sweeper), agent exit, machine lost (reconcile), delete.
 * While a machine stops its session stays `running`, so the runtime's final snapshot is still
 * accepted; the status changes once the machine is gone. Stops of one session are deduplicated:
 * in this process by sharing one promise, across API replicas by a claim in the database — the
 * replica that wins it stops the machine, any other waits for the session to end.
 */
import type { SessionStatus } from '../contract/schemas.js';
import type { Deps } from '../deps.js';
import { iso } from '../state/db.js';
import { LIVE_STATUSES, endSession, sessionById, updateSession, type SessionRow } from '../state/sessions.js';
import { deleteRefusals } from '../state/egress-refusals.js';
import { allSnapshots, deleteSnapshotRow } from '../state/snapshots.js';
import { revokeSessionTokens } from '../state/tokens.js';
import { claimStop, clearStopClaim } from '../state/leases.js';

/** A stop claimed this much longer ago than the stop grace (its replica died mid-stop) may be
 * claimed again; a replica that lost the claim waits this long for the session to end. */
const STOP_CLAIM_MARGIN_MS = 60_000;
const END_POLL_MS = 100;
export const stopClaimStaleMs = (deps: Pick<Deps, 'config'>): number => deps.config.stopGraceMs + STOP_CLAIM_MARGIN_MS;

const inFlight = new WeakMap<Deps, Map<string, Promise<void>>>();

function stopsOf(deps: Deps): Map<string, Promise<void>> {
  let map = inFlight.get(deps);
  if (!map) inFlight.set(deps, (map = new Map()));
  return map;
}

export interface EndOptions {
  status: Extract<SessionStatus, 'stopped' | 'timed_out' | 'failed'>;
  detail: string | null;
  exitCode?: number | null;
  graceMs?: number;
}

/** Stops the machine (its runtime snapshots on SIGTERM), then records the end. Idempotent;
 * concurrent callers share one stop. */
export function stopAndEnd(deps: Deps, sessionId: string, options: EndOptions): Promise<void> {
  const stops = stopsOf(deps);
  const existing = stops.get(sessionId);
  if (existing) return existing;
  const work = (async () => {
    const claimMs = stopClaimStaleMs(deps);
    if (!(await claimStop(deps.db, sessionId, deps.now(), claimMs))) {
      await untilEnded(deps, sessionId, claimMs);
      return;
    }
    const row = await sessionById(deps.db, sessionId);
    if (!row) return;
    deps.logger.info({ sessionId, machineId: row.machine_id, status: options.status }, 'stopping the session machine');
    if (row.machine_id) {
      try {
        await deps.provisioner.stop(row.machine_id, { graceMs: options.graceMs ?? deps.config.stopGraceMs });
      } catch (err) {
        deps.logger.error({ sessionId, err }, 'stopping the machine failed');
      }
    }
    await markEnded(deps, sessionId, options);
  })().finally(() => stops.delete(sessionId));
  stops.set(sessionId, work);
  track(deps, work);
  return work;
}

/** Ended already, or another replica stops it: waits (bounded) until the session is not live. */
async function untilEnded(deps: Deps, sessionId: string, maxMs: number): Promise<void> {
  const deadline = Date.now() + maxMs;
  for (;;) {
    const row = await sessionById(deps.db, sessionId);
    if (!row || !LIVE_STATUSES.includes(row.status) || Date.now() > deadline) return;
    await new Promise((resolve) => setTimeout(resolve, END_POLL_MS));
  }
}

/** Records the end without touching the machine (it is gone, or the caller stops it). */
export async function markEnded(deps: Deps, sessionId: string, options: EndOptions): Promise<boolean> {
  const ended = await endSession(deps.db, sessionId, { status: options.status, ended_at: iso(deps.now()), detail: options.detail, exit_code: options.exitCode ?? null });
  // Connect and machine tokens die with the session; so does its stop claim (a resume starts clean).
  await revokeSessionTokens(deps.db, sessionId);
  await clearStopClaim(deps.db, sessionId);
  // So does its way out (the machine is gone, or its caller stops it).
  track(deps, deps.egress.close(sessionId));
  if (ended) deps.logger.info({ sessionId, status: options.status, detail: options.detail }, 'session ended');
  return ended;
}

/** Fire-and-forget work that shutdown (and tests) can await. */
export function track(deps: Deps, work: Promise<unknown>): void {
  const guarded = work.catch((err: unknown) => deps.logger.error({ err }, 'background task failed'));
  deps.background.add(guarded);
  void guarded.finally(() => deps.background.delete(guarded));
}

/** Stops if needed, deletes every snapshot object and row, hides the session. */
export async function deleteSession(deps: Deps, row: SessionRow): Promise<void> {
  if (row.status === 'running' || row.status === 'provisioning') {
    await stopAndEnd(deps, row.id, { status: 'stopped', detail: 'deleted' });
  }
  // Closed (its last refusals written) before they go with the rest.
  await deps.egress.close(row.id);
  await deleteRefusals(deps.db, row.id);
  for (const snap of await allSnapshots(deps.db, row.id)) {
    await deps.storage.delete(snap.key);
    if (snap.agent_key) await deps.storage.delete(snap.agent_key);
    await deleteSnapshotRow(deps.db, snap.key);
  }
  await updateSession(deps.db, row.id, { deleted: 1, final_logs: null });
}
