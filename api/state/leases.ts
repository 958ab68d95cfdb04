/**
 * Leases: background work that must run once across API replicas (the TTL sweep, reconcile) is
 * done only by the holder of its named lease. A lease is a row (name, holder, expires_at): taken
 * when absent or expired, renewed by its holder each tick, released on shutdown. A holder that
 * crashes stops renewing and its lease expires (the TTL is a few ticks), so another replica takes
 * the work over. One conditional upsert decides: two replicas claiming at once cannot both hold.
 * Timestamps are ISO-8601 text, compared byte-wise (fixed width: byte order is time order).
 */
import type { Db } from './db.js';

export interface LeaseRow {
  name: string;
  holder: string;
  expires_at: string;
}

type LeaseTables = { leases: LeaseRow };

const iso = (ms: number): string => new Date(ms).toISOString();

/**
 * Takes or renews the lease `name` for `holder` until now + ttlMs; true when `holder` holds it
 * now. Refused while another holder's lease has not expired.
 */
export async function claimLease(db: Db, name: string, holder: string, ttlMs: number, nowMs: number): Promise<boolean> {
  const k = db.k.withTables<LeaseTables>();
  const row = await k
    .insertInto('leases')
    .values({ name, holder, expires_at: iso(nowMs + ttlMs) })
    .onConflict((oc) =>
      oc
        .column('name')
        .doUpdateSet((eb) => ({ holder: eb.ref('excluded.holder'), expires_at: eb.ref('excluded.expires_at') }))
        .where((eb) => eb.or([eb('leases.holder', '=', holder), eb('leases.expires_at', '<=', iso(nowMs))])),
    )
    .returning('holder')
    .executeTakeFirst();
  return row?.holder === holder;
}

/** Gives the lease up (only if `holder` holds it), so another replica need not wait for expiry. */
export async function releaseLease(db: Db, name: string, holder: string): Promise<void> {
  await db.k.withTables<LeaseTables>().deleteFrom('leases').where('name', '=', name).where('holder', '=', holder).execute();
}

/** Who holds `name` now (null: nobody, or an expired holder). */
export async function leaseHolder(db: Db, name: string, nowMs: number): Promise<string | null> {
  const row = await db.k.withTables<LeaseTables>().selectFrom('leases').select(['holder', 'expires_at']).where('name', '=', name).executeTakeFirst();
  return row && row.expires_at > iso(nowMs) ? row.holder : null;
}

type StopClaimTables = { stop_claims: { session_id: string; claimed_at: string } };

/**
 * Claims the stop of a live session for this replica: true for exactly one of any number of
 * callers on any replicas. A claim older than `staleMs` (its replica died mid-stop) may be taken
 * again. An ended session cannot be claimed (nothing to stop). The claims have a table of their
 * own, so session rows keep their shape.
 */
export async function claimStop(db: Db, sessionId: string, nowMs: number, staleMs: number): Promise<boolean> {
  const session = await db.k.selectFrom('sessions').select('status').where('id', '=', sessionId).executeTakeFirst();
  if (!session || (session.status !== 'provisioning' && session.status !== 'running')) return false;
  const row = await db.k
    .withTables<StopClaimTables>()
    .insertInto('stop_claims')
    .values({ session_id: sessionId, claimed_at: iso(nowMs) })
    .onConflict((oc) =>
      oc
        .column('session_id')
        .doUpdateSet((eb) => ({ claimed_at: eb.ref('excluded.claimed_at') }))
        .where('stop_claims.claimed_at', '<=', iso(nowMs - staleMs)),
    )
    .returning('claimed_at')
    .executeTakeFirst();
  return row !== undefined;
}

/** The session ended: a later start (resume) begins with no stop claimed. */
export async function clearStopClaim(db: Db, sessionId: string): Promise<void> {
  await db.k.withTables<StopClaimTables>().deleteFrom('stop_claims').where('session_id', '=', sessionId).execute();
}

/** Sessions whose stop a replica claimed less than `staleMs` ago: being stopped, not lost. */
export async function stopsInProgress(db: Db, nowMs: number, staleMs: number): Promise<Set<string>> {
  const rows = await db.k.withTables<StopClaimTables>().selectFrom('stop_claims').select('session_id').where('claimed_at', '>', iso(nowMs - staleMs)).execute();
  return new Set(rows.map((r) => r.session_id));
}

/** One API starting (single mode): no other process can be stopping anything. */
export async function clearAllStopClaims(db: Db): Promise<void> {
  await db.k.withTables<StopClaimTables>().deleteFrom('stop_claims').execute();
}
