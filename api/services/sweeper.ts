/** Inactivity TTL: running sessions idle for longer than their ttl are stopped → `timed_out`. */
import type { Deps } from '../deps.js';
import { iso } from '../state/db.js';
import { purgeExpiredRows } from '../state/purge.js';
import { liveSessions } from '../state/sessions.js';
import { stopAndEnd } from './lifecycle.js';

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

/** Runs `sweepIdle` (and `purgeExpired`) every `intervalMs`; returns the stop function. */
export function startSweeper(deps: Deps, intervalMs: number): () => void {
  let running = false;
  const timer = setInterval(() => {
    // One pass at a time: a slow database must not pile passes up.
    if (running) return;
    running = true;
    void (async () => {
      await sweepIdle(deps);
      await purgeExpired(deps);
    })()
      .catch((err: unknown) => deps.logger.error({ err }, 'sweep failed'))
      .finally(() => (running = false));
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
