/**
 * What each session's egress proxy refused, for `catty logs --net`: numbered per session (a
 * portable sequence, no autoincrement) and trimmed to the newest REFUSALS_KEPT on each append,
 * so a session that keeps knocking costs a bounded number of rows.
 */
import type { EgressRefusal } from '../../session-runtime/wire/network-policy.js';
import type { Db } from './db.js';
export type { RefusalRow } from './schema.js';

export const REFUSALS_KEPT = 500;

/**
 * Appends in one transaction, oldest first, then drops all but the newest `keep`; false (nothing
 * written) when the session is not in the database (deleted meanwhile). Two writers for one
 * session (replicas) take turns: the next seq is read under the session row's lock on Postgres
 * (FOR NO KEY UPDATE: it does not block the foreign-key checks of other tables); SQLite's write
 * transaction excludes every other writer already (db.ts). Without it, both read the same max(seq)
 * and the second insert fails on the primary key. Joins the caller's transaction, if any.
 */
export async function appendRefusals(db: Db, sessionId: string, refusals: readonly EgressRefusal[], keep = REFUSALS_KEPT): Promise<boolean> {
  if (refusals.length === 0) return true;
  return await db.transaction(async (tx) => {
    const lock = tx.k.selectFrom('sessions').select('id').where('id', '=', sessionId);
    const session = await (tx.dialect === 'postgres' ? lock.forNoKeyUpdate() : lock).executeTakeFirst();
    if (!session) return false;
    const { last } = await tx.k
      .selectFrom('egress_refusals')
      .select((eb) => eb.fn.coalesce(eb.fn.max('seq'), eb.lit(0)).as('last'))
      .where('session_id', '=', sessionId)
      .executeTakeFirstOrThrow();
    let seq = Number(last);
    const rows = refusals.map((r) => ({ session_id: sessionId, seq: ++seq, time: r.time, method: r.method, host: r.host, port: r.port, reason: r.reason, address: r.address ?? null, message: r.message }));
    await tx.k.insertInto('egress_refusals').values(rows).execute();
    await tx.k.deleteFrom('egress_refusals').where('session_id', '=', sessionId).where('seq', '<=', seq - keep).execute();
    return true;
  });
}

/** The session's refusals, newest last. */
export async function listRefusals(db: Db, sessionId: string): Promise<EgressRefusal[]> {
  const rows = await db.k
    .selectFrom('egress_refusals')
    .select(['time', 'method', 'host', 'port', 'reason', 'address', 'message'])
    .where('session_id', '=', sessionId)
    .orderBy('seq')
    .execute();
  return rows.map(({ address, ...rest }) => (address === null ? rest : { ...rest, address }));
}

export async function deleteRefusals(db: Db, sessionId: string): Promise<void> {
  await db.k.deleteFrom('egress_refusals').where('session_id', '=', sessionId).execute();
}
