/**
 * Inactivity TTL: running sessions idle for longer than their ttl are stopped → `timed_out`; and
 * the other background work. With replicas (shared mode) it runs on one of them: the holder of
 * the background lease (state/leases.ts).
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Deps } from '../deps.js';
import { iso } from '../state/db.js';
import { purgeExpiredRows } from '../state/purge.js';
import { liveSessions } from '../state/sessions.js';
import { claimLease, releaseLease } from '../state/leases.js';
import { stopAndEnd, track } from './lifecycle.js';
import { reconcile } from './reconcile.js';

/** One pass; returns the ids it started stopping (their stops run in the background). */
export async function sweepIdle(deps: Deps): Promise<string[]> {
  const now = deps.now();
  const expired = (await liveSessions(deps.db)).filter((s) => s.status === 'running' && now - Date.parse(s.last_activity_at) >= s.ttl_sec * 1000);
  for (const s of expired) {
    deps.logger.info({ sessionId: s.id, ttlSec: s.ttl_sec }, 'session idle past its ttl');
    void stopAndEnd(deps, s.id, { status: 'timed_out', detail: `no activity for ${s.ttl_sec} s` });
  }
  return expired.map((s) => s.id);
}

/** Rows nobody can use any more: expired device codes, browser sign-ins and user tokens
 * (kept a day past expiry, for forensics). Machine tokens go with their session's end. */
export async function purgeExpired(deps: Pick<Deps, 'db' | 'now'>): Promise<void> {
  await purgeExpiredRows(deps.db, iso(deps.now() - 24 * 3600 * 1000));
}

/** How long a replica holds the background lease without renewing it: three ticks. A crashed
 * holder's work passes to another replica within this. */
export const leaseTtlMs = (intervalMs: number): number => 3 * intervalMs;

/** This process among the replicas (the lease's holder name). */
const HOLDER = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
export const BACKGROUND_LEASE = 'background';

/**
 * Every `intervalMs`: the idle sweep and the purge, and in shared mode reconcile too — there only
 * on the replica holding the background lease (taken, or renewed, at each tick). Returns the stop
 * function (which gives the lease up, so another replica need not wait for it to expire).
 */
export function startSweeper(deps: Deps, intervalMs: number): () => void {
  const shared = deps.config.mode === 'shared';
  let running = false;
  let held = false;
  const tick = () => {
    // One pass at a time: a slow database must not pile passes up.
    if (running) return;
    running = true;
    void (async () => {
      if (shared) {
        const holding = await claimLease(deps.db, BACKGROUND_LEASE, HOLDER, leaseTtlMs(intervalMs), deps.now());
        if (holding !== held) deps.logger.info({ holder: HOLDER }, holding ? 'this replica runs the background work (lease taken)' : 'another replica runs the background work');
        held = holding;
        if (!holding) return;
        await reconcile(deps);
      }
      await sweepIdle(deps);
      await purgeExpired(deps);
      await deps.egress.collectCluster?.(deps.provisioner, leaseTtlMs(intervalMs));
    })()
      .catch((err: unknown) => deps.logger.error({ err }, 'sweep failed'))
      .finally(() => (running = false));
  };
  const timer = setInterval(tick, intervalMs);
  timer.unref();
  // A replica reconciles as soon as it holds the lease, not one interval later.
  if (shared) tick();
  return () => {
    clearInterval(timer);
    if (held) track(deps, releaseLease(deps.db, BACKGROUND_LEASE, HOLDER));
  };
}
